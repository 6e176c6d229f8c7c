"""The tensor codec: JSON tensors and the binary tensor data extension, both directions, and clear errors."""

import struct

import numpy as np
import orjson
import pytest

from ferryman_serving.codec import decode_request, encode_response
from ferryman_serving.errors import BadRequest
from ferryman_serving.tensors import InferenceResponse, OutputTensor

pytestmark = pytest.mark.unit


def body(**document: object) -> bytes:
    return orjson.dumps(document)


def test_json_tensor_is_decoded_with_its_shape_and_datatype() -> None:
    """Flat or nested row-major data become an array of the declared shape and dtype; id and outputs kept."""
    request = decode_request(
        body(
            id="r1",
            inputs=[{"name": "x", "shape": [2, 2], "datatype": "INT16", "data": [[1, 2], [3, 4]]}],
            outputs=[{"name": "y", "parameters": {"binary_data": True}}],
        )
    )
    (tensor,) = request.inputs
    assert tensor.array.dtype == np.int16 and tensor.array.tolist() == [[1, 2], [3, 4]]
    assert request.id == "r1"
    assert request.outputs is not None and request.outputs[0].binary


def test_an_empty_outputs_list_asks_for_every_output() -> None:
    """outputs=[] is read as outputs left out (Triton and KServe do the same), not as "return nothing"."""
    tensor = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}
    assert decode_request(body(inputs=[tensor], outputs=[])).outputs is None


def test_binary_inputs_follow_the_json_header_in_order() -> None:
    """With Inference-Header-Content-Length, inputs with binary_data_size take their bytes in order."""
    a = np.array([[1.5, -2.0]], dtype="<f4")
    text = [b"hi", b""]
    text_bytes = b"".join(struct.pack("<I", len(t)) + t for t in text)
    header = body(
        inputs=[
            {"name": "a", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {
                "name": "t",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(text_bytes)},
            },
        ]
    )
    request = decode_request(header + a.tobytes() + text_bytes, len(header))
    assert request.inputs[0].array.tolist() == a.tolist()
    assert request.inputs[1].array.tolist() == text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (body(inputs=[]), "non-empty list"),
        (body(inputs=[{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0]}]), "holds 2 elements"),
        (
            body(inputs=[{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]),
            "not an Open Inference",
        ),
        (body(inputs=[{"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]}]), "expected integers"),
        (body(inputs=[{"name": "x", "shape": [1], "datatype": "INT8", "data": [300]}]), "does not fit"),
        (
            body(inputs=[{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]),
            "non-negative integers",
        ),
        (body(inputs=[{"name": "x", "shape": [1], "datatype": "FP32"}]), "needs data"),
        (body(inputs=[{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]), "does not fit"),
        (
            body(inputs=[{"name": "x", "shape": [2], "datatype": "FP32", "data": [[1], [1, 2]]}]),
            "does not fit",
        ),
    ],
)
def test_malformed_requests_get_a_message_naming_the_problem(raw: bytes, message: str) -> None:
    """Every malformed request raises BadRequest (400) whose message names the field."""
    with pytest.raises(BadRequest, match=message):
        decode_request(raw)


X = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"inputs": [X, X]}, r"inputs\[1\] repeats the name 'x' of inputs\[0\]"),
        ({"inputs": [X], "outputs": [{"name": "y"}, {"name": "y"}]}, r"outputs\[1\] repeats the name 'y'"),
        (
            {"inputs": [X], "outputs": [{"name": "y", "parameters": {"binary_data": "false"}}]},
            r"outputs\[0\].parameters.binary_data must be JSON true or false, not \"false\"",
        ),
        (
            {"inputs": [X], "parameters": {"binary_data_output": 1}},
            "binary_data_output must be JSON true or false",
        ),
        (
            {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a", None]}]},
            "element 1 is null; BYTES data must be JSON strings",
        ),
        (
            {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": [1, "a"]}]},
            "element 0 is 1; BYTES",
        ),
        (
            {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": [["a"], ["b", "c"]]}]},
            r"element 0 is \[\"a\"\]; BYTES",
        ),
    ],
)
def test_values_a_server_would_otherwise_guess_at_are_refused(
    document: dict[str, object], message: str
) -> None:
    """Repeated names, non-boolean flags and non-string BYTES elements are 400s, not silent guesses.

    Before: the second input replaced the first, "false" turned binary output on, and null reached a
    string model as the text "None".
    """
    with pytest.raises(BadRequest, match=message):
        decode_request(orjson.dumps(document))


def test_bytes_data_may_be_nested_row_major() -> None:
    document = {"inputs": [{"name": "t", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], [""]]}]}
    assert decode_request(orjson.dumps(document)).inputs[0].array.tolist() == [["a"], [""]]


def test_binary_size_must_match_the_shape() -> None:
    """A binary tensor whose byte count disagrees with shape x itemsize is refused."""
    header = body(
        inputs=[{"name": "a", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]
    )
    with pytest.raises(BadRequest, match="needs 16"):
        decode_request(header + b"\0" * 8, len(header))


def test_binary_bool_takes_only_the_bytes_0_and_1() -> None:
    """Before: the bytes 2 and 255 reached the model as they were (the JSON form refuses 2 already)."""
    header = body(
        inputs=[{"name": "b", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}}]
    )
    assert decode_request(header + b"\x01\x00\x01", len(header)).inputs[0].array.tolist() == [
        True,
        False,
        True,
    ]
    with pytest.raises(BadRequest, match=r"binary BOOL data holds the byte 255 at element 2"):
        decode_request(header + b"\x01\x00\xff", len(header))


def test_unclaimed_binary_bytes_are_an_error() -> None:
    header = body(inputs=[{"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]}])
    with pytest.raises(BadRequest, match="no input claims them"):
        decode_request(header + b"\0" * 4, len(header))


def test_header_length_beyond_the_body_is_an_error() -> None:
    with pytest.raises(BadRequest, match="Inference-Header-Content-Length"):
        decode_request(b"{}", 10)


def test_response_in_json_and_binary() -> None:
    """JSON outputs carry flat data; binary outputs carry binary_data_size and raw little-endian bytes."""
    y = np.array([[1.0, 2.0]], dtype=np.float32)
    flags = np.array([True, False])
    response = InferenceResponse(
        "m", "3", [OutputTensor("y", "FP32", y), OutputTensor("b", "BOOL", flags, binary=True)], id="r"
    )
    payload, header_length = encode_response(response)
    assert header_length is not None
    document = orjson.loads(payload[:header_length])
    assert document["id"] == "r" and document["model_version"] == "3"
    assert document["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}
    assert document["outputs"][1]["parameters"] == {"binary_data_size": 2}
    assert payload[header_length:] == b"\x01\x00"


def test_json_only_response_has_no_header_length() -> None:
    payload, header_length = encode_response(
        InferenceResponse("m", "1", [OutputTensor("y", "INT64", np.arange(3))])
    )
    assert header_length is None
    assert orjson.loads(payload)["outputs"][0]["data"] == [0, 1, 2]
