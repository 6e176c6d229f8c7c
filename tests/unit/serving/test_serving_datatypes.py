"""Open Inference Protocol datatypes map to numpy and ONNX types both ways."""

import numpy as np
import pytest

from ferryman_serving.datatypes import (
    ALL_DATATYPES,
    ONNX_TO_OIP,
    numpy_dtype_of,
    oip_datatype_of_array,
    oip_datatype_of_onnx,
)

pytestmark = pytest.mark.unit

NUMERIC = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
]


@pytest.mark.parametrize("datatype", NUMERIC)
def test_numeric_datatypes_round_trip_through_numpy(datatype: str) -> None:
    """Every numeric datatype and BOOL has a numpy dtype whose arrays map back to the same name."""
    dtype = numpy_dtype_of(datatype)
    assert dtype is not None
    assert oip_datatype_of_array(np.zeros(2, dtype=dtype)) == datatype


def test_every_protocol_datatype_has_an_onnx_type() -> None:
    """The ONNX table covers exactly the protocol's datatypes, BYTES as tensor(string)."""
    assert sorted(ONNX_TO_OIP.values()) == sorted(ALL_DATATYPES)
    assert oip_datatype_of_onnx("tensor(string)") == "BYTES"
    assert oip_datatype_of_onnx("tensor(float)") == "FP32"


def test_unsupported_onnx_types_have_no_datatype() -> None:
    """Sequences and maps cannot travel in the protocol; the loader must say so."""
    assert oip_datatype_of_onnx("seq(map(int64,tensor(float)))") is None


def test_string_arrays_are_bytes() -> None:
    """Object and str arrays are BYTES; BYTES has no fixed-size numpy dtype."""
    assert oip_datatype_of_array(np.array(["a"], dtype=object)) == "BYTES"
    assert numpy_dtype_of("BYTES") is None
