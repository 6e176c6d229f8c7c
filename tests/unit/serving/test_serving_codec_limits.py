"""The codec's caps and strict JSON values: decided from the shape before any tensor is built."""

import struct

import numpy as np
import orjson
import pytest

from ferryman_serving.codec import MAX_DIMENSIONS, TensorLimits, decode_request
from ferryman_serving.dataplane import runtime_message
from ferryman_serving.errors import BadRequest

pytestmark = pytest.mark.unit

SMALL = TensorLimits(max_elements=100, max_string_elements=10)


def tensor(shape: list[int], datatype: str, data: list[object]) -> bytes:
    return orjson.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]})


def refused(body: bytes, json_length: int | None = None, limits: TensorLimits = SMALL) -> str:
    with pytest.raises(BadRequest) as raised:
        decode_request(body, json_length, limits)
    return raised.value.message


@pytest.mark.parametrize("shape", [[0, 2**62], [0, 2**64 - 1], [0, 101]])
def test_a_dimension_over_the_element_cap_is_refused_even_beside_a_zero(shape: list[int]) -> None:
    assert "has a dimension over 100" in refused(tensor(shape, "FP32", []))


def test_too_many_dimensions_are_refused() -> None:
    message = refused(tensor([1] * (MAX_DIMENSIONS + 1), "FP32", [1.0]))
    assert f"{MAX_DIMENSIONS + 1} dimensions; at most {MAX_DIMENSIONS}" in message


def test_element_caps_per_datatype() -> None:
    assert "holds 110 elements, over the limit of 100" in refused(tensor([11, 10], "FP32", [0.0] * 110))
    assert "FERRYMAN_MAX_STRING_ELEMENTS" in refused(tensor([11], "BYTES", ["a"] * 11))
    assert decode_request(tensor([10], "BYTES", ["a"] * 10), None, SMALL).inputs[0].array.size == 10


@pytest.mark.parametrize("data", [["false"], [2], [-1], [0.5], [None]])
def test_bool_takes_only_json_booleans(data: list[object]) -> None:
    assert "BOOL data must be JSON true or false" in refused(tensor([1], "BOOL", data))


def test_json_booleans_decode_as_they_read() -> None:
    array = decode_request(tensor([2], "BOOL", [False, True]), None, SMALL).inputs[0].array
    assert array.dtype == np.bool_ and array.tolist() == [False, True]


@pytest.mark.parametrize("data", [["nan"], ["inf"], ["1.5"], [True], [None]])
def test_floats_take_only_json_numbers(data: list[object]) -> None:
    assert "FP32 data must be JSON numbers" in refused(tensor([1], "FP32", data))


def test_a_number_beyond_the_float_range_is_refused_not_made_infinite() -> None:
    assert "element 1 (1e+300) is outside the FP32 range" in refused(tensor([2], "FP32", [1.0, 1e300]))
    assert "outside the FP16 range" in refused(tensor([1], "FP16", [65520.0]))
    wide = decode_request(tensor([1], "FP64", [1e300]), None, SMALL).inputs[0].array
    assert wide.tolist() == [1e300]


def test_the_largest_finite_float_is_taken_as_numpy_writes_it() -> None:
    """3.4028235e+38 is how the server writes FP32's largest value; it was refused as beyond the range
    when sent back. Only what would round to infinity is refused."""
    largest = decode_request(tensor([1], "FP32", [3.4028235e38]), None, SMALL).inputs[0].array
    assert largest.tolist() == [float(np.finfo(np.float32).max)]
    assert decode_request(tensor([1], "FP16", [65519.0]), None, SMALL).inputs[0].array.tolist() == [65504.0]
    assert "outside the FP32 range" in refused(tensor([1], "FP32", [-3.4028235677973366e38]))


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("INT32", [True, False]),
        ("INT8", [True, 2, 3]),
        ("UINT8", [[1, 2], [False, 3]]),
        ("FP32", [1.5, True]),
    ],
)
def test_numbers_take_no_json_booleans_even_among_numbers(datatype: str, data: list[object]) -> None:
    """numpy reads true as 1 beside numbers (and alone for integers): the client meant something else."""
    assert "must be JSON numbers" in refused(
        tensor([2, 2] if datatype == "UINT8" else [len(data)], datatype, data)
    )


@pytest.mark.parametrize(
    "written",
    [b"-9223372036854775809", b"9223372036854775808.0", b"9007199254740993.0", b"1e19"],
)
def test_integers_json_parsed_as_inexact_floats_are_refused(written: bytes) -> None:
    """Beyond the 64-bit ranges orjson parses integers as floats: -9223372036854775809 became the int64
    minimum and 9007199254740993.0 became ...992, both passing the exactness check made after rounding."""
    body = b'{"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [1, ' + written + b"]}]}"
    assert "is not exact" in refused(body)


def test_integers_written_as_whole_floats_below_two_to_the_53_are_taken() -> None:
    body = tensor([2], "INT64", [2.0, 9007199254740991.0])
    assert decode_request(body, None, SMALL).inputs[0].array.tolist() == [2, 9007199254740991]


def binary_strings(shape: list[int], count: int) -> tuple[bytes, int]:
    data = b"".join(struct.pack("<I", 1) + b"s" for _ in range(count))
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": shape,
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        }
    )
    return header + data, len(header)


def test_binary_strings_must_match_the_shape_count() -> None:
    assert "holds more than the 3 elements of shape [3]" in refused(*binary_strings([3], 5))
    assert "holds 2 elements but shape [3] needs 3" in refused(*binary_strings([3], 2))
    body, length = binary_strings([3], 3)
    assert decode_request(body, length, SMALL).inputs[0].array.tolist() == [b"s"] * 3


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x",
            "Got invalid dimensions for input: x",
        ),
        (
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Gather "
            "node. Name:'g' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/gather.cc:"
            "112 onnxruntime::common::Status onnxruntime::GatherCopyData(int) indices element out of data "
            "bounds, idx=7 must be within the inclusive range [-3,2]",
            "indices element out of data bounds, idx=7 must be within the inclusive range [-3,2]",
        ),
    ],
)
def test_runtime_errors_reach_clients_without_source_paths(raw: str, clean: str) -> None:
    assert runtime_message(Exception(raw)) == clean
