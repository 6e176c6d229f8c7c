"""The Open Inference Protocol V2 tensor codec: JSON tensors and the binary tensor data extension.

Transport-neutral: it turns request bytes into an `InferenceRequest` and an `InferenceResponse` into
bytes; the caller tells it where the JSON header ends (`Inference-Header-Content-Length` over HTTP).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ferryman_serving.datatypes import EXACT_FLOAT_INTEGERS, numpy_dtype_of, overflow_threshold
from ferryman_serving.errors import BadRequest
from ferryman_serving.tensors import (
    InferenceRequest,
    InferenceResponse,
    InputTensor,
    OutputTensor,
    RequestedOutput,
)

_NO_BINARY = memoryview(b"")
_EXAMPLE = '{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.5]}]}'
_FLOAT_LIMIT = {
    "FP16": overflow_threshold(np.dtype(np.float16)),
    "FP32": overflow_threshold(np.dtype(np.float32)),
}
# numpy stops at 64 dimensions; no model input needs more than a handful.
MAX_DIMENSIONS = 32


@dataclass(frozen=True, slots=True)
class TensorLimits:
    """Caps checked before a tensor is built, so that a small body cannot cost much memory or time.

    `max_elements` also caps each dimension: a huge dimension beside a zero one holds no elements but
    still breaks numpy and ONNX Runtime. BYTES elements cost a Python object each, hence their own cap.
    """

    max_elements: int = 4 * 1024 * 1024
    max_string_elements: int = 65536


DEFAULT_LIMITS = TensorLimits()


def decode_request(
    body: bytes, json_length: int | None = None, limits: TensorLimits = DEFAULT_LIMITS
) -> InferenceRequest:
    """Parse an infer request; `json_length` is set when binary tensor data follows the JSON header."""
    if json_length is not None and not 0 < json_length <= len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {json_length} but the body has {len(body)} bytes; "
            "it must be the length of the JSON header that starts the body"
        )
    header = body if json_length is None else memoryview(body)[:json_length]
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON ({error}); send e.g. {_EXAMPLE}") from None
    if not isinstance(document, dict):
        raise BadRequest(f"request body must be a JSON object, e.g. {_EXAMPLE}")
    binary = memoryview(body)[json_length:] if json_length is not None else _NO_BINARY
    inputs, consumed = _decode_inputs(document.get("inputs"), binary, limits)
    if consumed != len(binary):
        raise BadRequest(
            f"{len(binary) - consumed} bytes of binary data follow the JSON header but no input claims them "
            "with parameters.binary_data_size"
        )
    parameters = _optional_object(document.get("parameters"), "parameters")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("id must be a string")
    binary_default = _flag(parameters, "binary_data_output", False, "parameters") if parameters else False
    return InferenceRequest(
        inputs=inputs,
        id=request_id,
        parameters=parameters,
        outputs=_decode_outputs(document.get("outputs"), binary_default),
        binary_default=binary_default,
    )


def _optional_object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON object")
    return value


def _decode_inputs(raw: Any, binary: memoryview, limits: TensorLimits) -> tuple[list[InputTensor], int]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"inputs must be a non-empty list of tensors, e.g. {_EXAMPLE}")
    inputs = []
    offset = 0
    for index, item in enumerate(raw):
        tensor, used = _decode_input(item, index, binary[offset:], limits)
        inputs.append(tensor)
        offset += used
    if len(inputs) > 1:
        _refuse_repeated_names([tensor.name for tensor in inputs], "inputs")
    return inputs, offset


def _refuse_repeated_names(names: list[str], field: str) -> None:
    # A repeated input would silently replace the first; a repeated output would be computed twice.
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise BadRequest(
                f"{field}[{index}] repeats the name {name!r} of {field}[{seen[name]}]; name each once"
            )
        seen[name] = index


def _where(index: int, name: str | None = None) -> str:
    return f"inputs[{index}]" if name is None else f"inputs[{index}] ({name!r})"


def _decode_input(item: Any, index: int, binary: memoryview, limits: TensorLimits) -> tuple[InputTensor, int]:
    # Runs for every input of every request: exact type checks, and error texts built only on error.
    if type(item) is not dict:
        raise BadRequest(f"{_where(index)} must be an object with name, shape, datatype and data")
    name = item.get("name")
    if type(name) is not str:
        raise BadRequest(f"{_where(index)}.name must be a string naming a model input")
    shape = _decode_shape(item.get("shape"), index, name, limits.max_elements)
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise BadRequest(
            f"{_where(index, name)}.datatype must be a string such as FP32, INT64, BOOL or BYTES"
        )
    _check_element_count(shape, datatype, index, name, limits)
    parameters = item.get("parameters")
    if parameters is not None:
        if type(parameters) is not dict:
            raise BadRequest(f"{_where(index, name)}.parameters must be a JSON object")
        size = parameters.get("binary_data_size")
        if size is not None:
            where = _where(index, name)
            if type(size) is not int or size < 0 or size > len(binary):
                raise BadRequest(
                    f"{where}.parameters.binary_data_size is {size!r} but {len(binary)} binary bytes remain"
                )
            return InputTensor(
                name, datatype, _array_from_binary(binary[:size], datatype, shape, where)
            ), size
    if "data" not in item:
        raise BadRequest(
            f"{_where(index, name)} needs data (a flat or nested list) or parameters.binary_data_size"
        )
    return InputTensor(name, datatype, _array_from_json(item["data"], datatype, shape, index, name)), 0


def _decode_shape(raw: Any, index: int, name: str, max_dim: int) -> tuple[int, ...]:
    # A plain loop with exact type checks (bool is not an int here).
    if type(raw) is list and len(raw) <= MAX_DIMENSIONS:
        for dim in raw:
            if type(dim) is not int or dim < 0 or dim > max_dim:
                break
        else:
            return tuple(raw)
    where = f"{_where(index, name)}.shape"
    if type(raw) is list and len(raw) > MAX_DIMENSIONS:
        raise BadRequest(f"{where} has {len(raw)} dimensions; at most {MAX_DIMENSIONS} are supported")
    if type(raw) is list and all(type(dim) is int and dim >= 0 for dim in raw):
        raise BadRequest(
            f"{where} {raw} has a dimension over {max_dim}, the most elements a tensor may hold "
            "(FERRYMAN_MAX_TENSOR_ELEMENTS)"
        )
    raise BadRequest(f"{where} must be a list of non-negative integers, e.g. [1, 20]")


def _check_element_count(
    shape: tuple[int, ...], datatype: str, index: int, name: str, limits: TensorLimits
) -> None:
    count = math.prod(shape)
    if datatype == "BYTES":
        limit, setting = limits.max_string_elements, "FERRYMAN_MAX_STRING_ELEMENTS"
    else:
        limit, setting = limits.max_elements, "FERRYMAN_MAX_TENSOR_ELEMENTS"
    if count > limit:
        raise BadRequest(
            f"{_where(index, name)}.shape {list(shape)} holds {count} elements, over the limit of {limit} "
            f"for {datatype} tensors ({setting}); send smaller batches"
        )


def _array_from_json(data: Any, datatype: str, shape: tuple[int, ...], index: int, name: str) -> np.ndarray:
    dtype = numpy_dtype_of(datatype)
    try:
        if dtype is None:
            if datatype != "BYTES":
                raise BadRequest(
                    f"{_where(index, name)}.datatype {datatype!r} is not an Open Inference Protocol datatype"
                )
            array = _strings(data)
        elif dtype.kind in "iu":
            array = _integers(data, dtype)
        elif dtype.kind == "b":
            array = _booleans(data)
        else:
            array = _floats(data, dtype, datatype)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRequest(f"{_where(index, name)}.data does not fit datatype {datatype}: {error}") from None
    expected = math.prod(shape)
    if array.size != expected:
        raise BadRequest(
            f"{_where(index, name)}.shape {list(shape)} holds {expected} elements but data has {array.size}; "
            "send shape and data that agree (data may be flat, in row-major order)"
        )
    return array.reshape(shape)


def _integers(data: Any, dtype: np.dtype[np.generic]) -> np.ndarray:
    # Refuse silent truncation (1.5 -> 1) and wrap-around (300 -> 44 in INT8).
    array = np.asarray(data)
    if not array.size:
        return array.astype(dtype)
    if array.dtype.kind == "b" or _holds_bool(data):  # numpy reads true as 1, beside numbers too
        raise ValueError(f"{dtype.name} data must be JSON numbers (not true or false)")
    if array.dtype.kind in "iu":
        info = np.iinfo(dtype)  # type: ignore[type-var]  # dtype is an integer dtype here
        if array.dtype != dtype and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"values outside the {dtype.name} range [{info.min}, {info.max}]")
        return array.astype(dtype)
    # numpy guesses float64 or object for integers beyond int64 (UINT64 values): convert exactly and
    # compare as Python numbers, which also rejects fractions. A float64 beyond 2**53 no longer holds the
    # integer that was written (orjson parses integers beyond the 64-bit ranges as floats).
    written = np.asarray(data, dtype=object)
    if any(type(value) is float and abs(value) >= EXACT_FLOAT_INTEGERS for value in written.flat):
        raise ValueError(
            "a number beyond ±2**53 written with a fraction or exponent, or beyond the 64-bit integer "
            "ranges, is not exact; write integers in range as plain JSON integers, or send binary data"
        )
    exact = np.asarray(data, dtype=dtype)
    if not np.array_equal(written, exact.astype(object)):
        raise ValueError(f"expected integers, got {array.dtype} values")
    return exact


def _strings(data: Any) -> np.ndarray:
    # JSON BYTES elements are strings; numpy would keep null, numbers and ragged sublists as objects that
    # reach the model as "None", "1" or "['a']".
    array = np.asarray(data, dtype=object)
    if array.ndim > MAX_DIMENSIONS:  # numpy's flat iterator stops at 32 dimensions with a RuntimeError
        raise ValueError(
            f"data is nested {array.ndim} deep; a tensor has at most {MAX_DIMENSIONS} dimensions"
        )
    for at, value in enumerate(array.flat):
        if type(value) is not str:
            raise ValueError(
                f"element {at} is {_shown(value)}; BYTES data must be JSON strings (numbers take a numeric "
                "datatype)"
            )
    return array


def _booleans(data: Any) -> np.ndarray:
    # The protocol writes BOOL as JSON true/false; numpy would read "false", 2 or 0.5 as True.
    array = np.asarray(data)
    if array.size and array.dtype.kind != "b":
        raise ValueError("BOOL data must be JSON true or false (not numbers or strings)")
    return array.astype(np.bool_, copy=False)


def _floats(data: Any, dtype: np.dtype[np.generic], datatype: str) -> np.ndarray:
    # numpy would parse the strings "nan" and "inf" and read true as 1.0; JSON numbers only. A finite
    # JSON number beyond the datatype's range (1e300 in FP32) must not silently become infinity.
    raw = np.asarray(data)
    if raw.size and (raw.dtype.kind not in "iuf" or _holds_bool(data)):
        raise ValueError(f"{datatype} data must be JSON numbers (not strings, booleans or null)")
    if dtype.itemsize < 8 and raw.size:
        # Checked before the cast, which would turn them into inf (np.errstate costs more than this).
        beyond = np.abs(raw) >= _FLOAT_LIMIT[datatype]
        if beyond.any():
            at = int(np.flatnonzero(beyond.ravel())[0])
            raise ValueError(f"element {at} ({raw.ravel()[at].item()!r}) is outside the {datatype} range")
    return raw.astype(dtype)


def _holds_bool(data: Any) -> bool:
    """Whether a JSON true/false sits among numbers (numpy would read it as 1 or 0); type() per element
    is mapped in C, cheap beside the parse."""
    if type(data) is not list:
        return type(data) is bool
    kinds = set(map(type, data))
    if list in kinds:
        return bool in kinds or any(_holds_bool(row) for row in data if type(row) is list)
    return bool in kinds


def _array_from_binary(raw: memoryview, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    expected = math.prod(shape)
    if datatype == "BYTES":
        return np.asarray(_split_bytes(raw, where, expected, shape), dtype=object).reshape(shape)
    dtype = numpy_dtype_of(datatype)
    if dtype is None:
        raise BadRequest(f"{where}.datatype {datatype!r} is not an Open Inference Protocol datatype")
    if len(raw) != expected * dtype.itemsize:
        raise BadRequest(
            f"{where} has {len(raw)} binary bytes but shape {list(shape)} of {datatype} needs "
            f"{expected * dtype.itemsize}"
        )
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if datatype == "BOOL":
        _check_bool_bytes(raw, where)
    return array


def _check_bool_bytes(raw: memoryview, where: str) -> None:
    # numpy would wrap any byte as a bool, and the runtime would get the raw 2 or 255 (undefined for
    # its bool operators); the JSON form refuses 2 too.
    octets = np.frombuffer(raw, dtype=np.uint8)
    beyond = np.flatnonzero(octets > 1)
    if beyond.size:
        at = int(beyond[0])
        raise BadRequest(
            f"{where} binary BOOL data holds the byte {int(octets[at])} at element {at}; each element is one "
            "byte, 0 (false) or 1 (true)"
        )


def _split_bytes(raw: memoryview, where: str, expected: int, shape: tuple[int, ...]) -> list[bytes]:
    # BYTES elements in binary form: a 4-byte little-endian length, then that many bytes, repeated.
    # Stops at one element past the shape's count: a few bytes per element must not buy millions of
    # Python objects before the mismatch is noticed.
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if len(items) == expected:
            raise BadRequest(
                f"{where} BYTES binary data holds more than the {expected} elements of shape {list(shape)}"
            )
        if offset + 4 > len(raw):
            raise BadRequest(f"{where} BYTES binary data is truncated inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            raise BadRequest(f"{where} BYTES binary element of {length} bytes overruns the data")
        items.append(bytes(raw[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    if len(items) != expected:
        raise BadRequest(
            f"{where} BYTES binary data holds {len(items)} elements but shape {list(shape)} needs {expected}"
        )
    return items


def _decode_outputs(raw: Any, binary_default: bool) -> list[RequestedOutput] | None:
    # An empty list selects nothing, so like Triton and KServe read it as "not given": every output.
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise BadRequest('outputs must be a list like [{"name": "y"}]')
    outputs = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f'outputs[{index}] must be an object with a string name, e.g. {{"name": "y"}}')
        where = f"outputs[{index}].parameters"
        parameters = _optional_object(item.get("parameters"), where)
        binary = _flag(parameters, "binary_data", binary_default, where) if parameters else binary_default
        outputs.append(RequestedOutput(item["name"], binary))
    _refuse_repeated_names([output.name for output in outputs], "outputs")
    return outputs


def _flag(parameters: dict[str, Any], key: str, default: bool, where: str) -> bool:
    # bool("false") is True: only JSON true and false are read.
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise BadRequest(f"{where}.{key} must be JSON true or false, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A JSON value from a request as it was sent, cut short for an error message."""
    try:
        return orjson.dumps(value).decode()[:40]
    except TypeError:  # nested deeper than orjson writes (255), though it reads up to 1024
        return f"a {type(value).__name__} nested too deep to show"


def encode_response(response: InferenceResponse) -> tuple[bytes, int | None]:
    """Response bytes, and the JSON header length when binary output data follows it (else None)."""
    outputs = []
    chunks: list[bytes] = []
    for tensor in response.outputs:
        outputs.append(_encode_output(tensor, chunks))
    document: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id is not None:
        document["id"] = response.id
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _encode_output(tensor: OutputTensor, chunks: list[bytes]) -> dict[str, Any]:
    encoded: dict[str, Any] = {
        "name": tensor.name,
        "datatype": tensor.datatype,
        "shape": list(tensor.array.shape),
    }
    if tensor.binary:
        raw = _bytes_of(tensor)
        chunks.append(raw)
        encoded["parameters"] = {"binary_data_size": len(raw)}
    elif tensor.datatype == "BYTES":
        encoded["data"] = [_text_of(v) for v in tensor.array.ravel().tolist()]
    else:
        encoded["data"] = np.ascontiguousarray(tensor.array).ravel()
    return encoded


def _bytes_of(tensor: OutputTensor) -> bytes:
    if tensor.datatype != "BYTES":
        return np.ascontiguousarray(tensor.array).tobytes()
    parts = []
    for value in tensor.array.ravel().tolist():
        item = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(item)) + item)
    return b"".join(parts)


def _text_of(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
