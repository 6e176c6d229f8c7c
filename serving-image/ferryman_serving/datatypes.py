"""Datatype names of the Open Inference Protocol, numpy dtypes and ONNX Runtime type strings, both ways."""

from __future__ import annotations

import numpy as np

# OIP datatype -> numpy dtype. Little-endian explicitly: the binary tensor extension is little-endian.
OIP_TO_NUMPY: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

NUMPY_TO_OIP: dict[np.dtype[np.generic], str] = {dtype: name for name, dtype in OIP_TO_NUMPY.items()}

# ONNX Runtime reports input/output types as strings such as "tensor(float)".
ONNX_TO_OIP: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}

ALL_DATATYPES = (*OIP_TO_NUMPY, "BYTES")


def overflow_threshold(dtype: np.dtype[np.generic]) -> float:
    """The smallest magnitude a float64 value rounds up to infinity in the narrower float `dtype`.

    Half a unit above the dtype's largest value (65520 for FP16, 3.4028235677973366e38 for FP32): values
    below it, the largest value as numpy prints it (3.4028235e+38) included, round to a finite number.
    """
    largest = np.finfo(dtype).max  # type: ignore[type-var]  # a float dtype
    unit = float(largest) - float(np.nextafter(largest, dtype.type(0)))
    return float(largest) + unit / 2


# The magnitude below which every integer is exactly a float64, as JSON numbers are parsed beyond int64.
EXACT_FLOAT_INTEGERS = 2.0**53


def oip_datatype_of_onnx(onnx_type: str) -> str | None:
    """The OIP datatype for an ONNX Runtime type string, or None when the protocol cannot carry it."""
    return ONNX_TO_OIP.get(onnx_type)


def numpy_dtype_of(datatype: str) -> np.dtype[np.generic] | None:
    """The numpy dtype for a numeric or BOOL OIP datatype; None for BYTES and unknown names."""
    return OIP_TO_NUMPY.get(datatype)


def oip_datatype_of_array(array: np.ndarray) -> str:
    """The OIP datatype of a numpy array produced by the runtime (strings and objects are BYTES)."""
    found = NUMPY_TO_OIP.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
    if found is not None:
        return found
    if array.dtype.kind in "USO":
        return "BYTES"
    raise ValueError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")
