"""Open Inference Protocol V2 REST on a real server process: health, metadata, infer in JSON and binary."""

from __future__ import annotations

import httpx
import numpy as np
import onnxruntime as ort
import orjson
import pytest
from tests.serving.conftest import GB_VERSION

from ferryman_testing.models import FEATURES, GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

ROW = [round(0.1 * i - 1.0, 2) for i in range(FEATURES)]


def infer_body(rows: list[list[float]], **extra: object) -> dict[str, object]:
    inputs = [{"name": "features", "shape": [len(rows), FEATURES], "datatype": "FP32", "data": rows}]
    return {"inputs": inputs, **extra}


def reference_prediction(files: GradientBoostingFiles, rows: list[list[float]]) -> np.ndarray:
    session = ort.InferenceSession(str(files.model_path), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {"features": np.asarray(rows, dtype=np.float32)})
    return np.asarray(result)


def test_health_and_server_metadata(gb_server: ServingProcess) -> None:
    """live and ready answer 200; /v2 names the server and the binary tensor extension."""
    assert httpx.get(f"{gb_server.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{gb_server.url}/v2/health/ready").json() == {"ready": True}
    metadata = httpx.get(f"{gb_server.url}/v2").json()
    assert metadata["name"] == "ferryman" and "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize("path", ["/v2/models/fraud", f"/v2/models/fraud/versions/{GB_VERSION}"])
def test_model_metadata_comes_from_the_onnx_graph(gb_server: ServingProcess, path: str) -> None:
    """Metadata lists the configured version and the graph's tensors (-1 for the dynamic batch)."""
    metadata = httpx.get(f"{gb_server.url}{path}").json()
    assert metadata["versions"] == [GB_VERSION]
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}]
    assert metadata["outputs"] == [{"name": "variable", "datatype": "FP32", "shape": [-1, 1]}]


@pytest.mark.parametrize("path", ["/v2/models/fraud/ready", f"/v2/models/fraud/versions/{GB_VERSION}/ready"])
def test_model_ready(gb_server: ServingProcess, path: str) -> None:
    assert httpx.get(f"{gb_server.url}{path}").json() == {"name": "fraud", "ready": True}


@pytest.mark.parametrize("path", ["/v2/models/fraud/infer", f"/v2/models/fraud/versions/{GB_VERSION}/infer"])
def test_json_infer_returns_what_onnx_runtime_computes(
    gb_server: ServingProcess, gradient_boosting: GradientBoostingFiles, path: str
) -> None:
    """A two-row JSON request gets the model's own predictions, the version, and its id echoed."""
    rows = [ROW, [-v for v in ROW]]
    answer = httpx.post(f"{gb_server.url}{path}", json=infer_body(rows, id="req-42"))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["id"] == "req-42" and document["model_version"] == GB_VERSION
    (output,) = document["outputs"]
    assert output["shape"] == [2, 1] and output["datatype"] == "FP32"
    np.testing.assert_allclose(
        output["data"], reference_prediction(gradient_boosting, rows).ravel(), rtol=1e-6
    )


def test_outputs_selection_returns_only_the_named_outputs(two_input_server: ServingProcess) -> None:
    """With outputs=[product], only product comes back, with a * b."""
    a, b = [[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]
    request = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": a},
            {"name": "b", "shape": [1, 3], "datatype": "FP32", "data": b},
        ],
        "outputs": [{"name": "product"}],
        "parameters": {"custom": "ignored"},
    }
    document = httpx.post(f"{two_input_server.url}/v2/models/arith/infer", json=request).json()
    assert [o["name"] for o in document["outputs"]] == ["product"]
    assert document["outputs"][0]["data"] == [4.0, 10.0, 18.0]


def test_binary_inputs_and_binary_outputs(two_input_server: ServingProcess) -> None:
    """Binary tensor extension: binary inputs after the JSON header, binary_data_output for every output."""
    a = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], dtype="<f4")
    b = np.array([[4.0, 5.0, 6.0], [2.0, 2.0, 2.0]], dtype="<f4")
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": a.nbytes},
                },
                {
                    "name": "b",
                    "shape": [2, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": b.nbytes},
                },
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    answer = httpx.post(
        f"{two_input_server.url}/v2/models/arith/infer",
        content=header + a.tobytes() + b.tobytes(),
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    document = orjson.loads(answer.content[:length])
    blob, offset, results = answer.content[length:], 0, {}
    for output in document["outputs"]:
        size = output["parameters"]["binary_data_size"]
        results[output["name"]] = np.frombuffer(blob[offset : offset + size], dtype="<f4").reshape(
            output["shape"]
        )
        offset += size
    np.testing.assert_array_equal(results["sum"], a + b)
    np.testing.assert_array_equal(results["product"], a * b)


DATATYPE_VALUES = {
    "BOOL": [[True, False, True]],
    "UINT8": [[0, 1, 255]],
    "UINT16": [[0, 1, 65535]],
    "UINT32": [[0, 1, 4294967295]],
    "UINT64": [[0, 1, 18446744073709551615]],
    "INT8": [[-128, 0, 127]],
    "INT16": [[-32768, 0, 32767]],
    "INT32": [[-2147483648, 0, 2147483647]],
    "INT64": [[-9223372036854775808, 0, 9223372036854775807]],
    "FP16": [[0.5, -2.0, 1024.0]],
    "FP32": [[0.25, -1.5, 3.0e38]],
    "FP64": [[1e-300, -1.5, 1e300]],
}


def test_every_numeric_datatype_round_trips_in_json(identity_server: ServingProcess) -> None:
    """All 12 numeric and BOOL datatypes in one request come back unchanged, extremes included."""
    request = {
        "inputs": [
            {"name": f"in_{dt}", "shape": [1, 3], "datatype": dt, "data": values}
            for dt, values in DATATYPE_VALUES.items()
        ]
    }
    answer = httpx.post(f"{identity_server.url}/v2/models/identity/infer", json=request)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    for datatype, values in DATATYPE_VALUES.items():
        output = outputs[f"out_{datatype}"]
        assert output["datatype"] == datatype
        assert output["data"] == values[0], datatype


def test_every_numeric_datatype_round_trips_in_binary(identity_server: ServingProcess) -> None:
    """The same values as raw little-endian bytes (BOOL as one byte) come back byte for byte."""
    from ferryman_serving.datatypes import OIP_TO_NUMPY

    arrays = {dt: np.array(values, dtype=OIP_TO_NUMPY[dt]) for dt, values in DATATYPE_VALUES.items()}
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": f"in_{dt}",
                    "shape": [1, 3],
                    "datatype": dt,
                    "parameters": {"binary_data_size": a.nbytes},
                }
                for dt, a in arrays.items()
            ],
            "outputs": [{"name": f"out_{dt}", "parameters": {"binary_data": True}} for dt in arrays],
        }
    )
    answer = httpx.post(
        f"{identity_server.url}/v2/models/identity/infer",
        content=header + b"".join(a.tobytes() for a in arrays.values()),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    blob = answer.content[length:]
    assert blob == b"".join(a.tobytes() for a in arrays.values())


def test_bytes_tensors_in_json_and_binary(string_server: ServingProcess) -> None:
    """BYTES travel as JSON strings and as 4-byte length-prefixed binary elements."""
    request = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["héllo", ""]}]}
    document = httpx.post(f"{string_server.url}/v2/models/echo/infer", json=request).json()
    assert document["outputs"][0]["data"] == ["héllo", ""]
    request["outputs"] = [{"name": "echo", "parameters": {"binary_data": True}}]
    answer = httpx.post(f"{string_server.url}/v2/models/echo/infer", json=request)
    length = int(answer.headers["inference-header-content-length"])
    hello = "héllo".encode()
    assert answer.content[length:] == len(hello).to_bytes(4, "little") + hello + b"\0\0\0\0"


def test_binary_bytes_that_are_not_utf8_are_refused_not_replaced(string_server: ServingProcess) -> None:
    """ONNX Runtime takes string tensors as text; b"\\xff\\xfe" reached the model as two U+FFFD."""
    elements = [b"ok", b"\xff\xfe"]
    data = b"".join(len(e).to_bytes(4, "little") + e for e in elements)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        }
    )
    answer = httpx.post(
        f"{string_server.url}/v2/models/echo/infer",
        content=header + data,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert answer.status_code == 400, answer.text
    assert "input 'text' element 1 is not UTF-8 text" in answer.json()["error"]


def test_non_finite_outputs_are_null_in_json_and_exact_in_binary(two_input_server: ServingProcess) -> None:
    """JSON has no NaN or infinity (docs/serving.md): null there, the exact floats in binary form."""
    inputs = [
        {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [3e38, -3e38, 1.0]},
        {"name": "b", "shape": [1, 3], "datatype": "FP32", "data": [3e38, -3e38, 2.0]},
    ]
    url = f"{two_input_server.url}/v2/models/arith/infer"
    document = httpx.post(url, json={"inputs": inputs, "outputs": [{"name": "sum"}]}).json()
    assert document["outputs"][0]["data"] == [None, None, 3.0]
    binary = {"inputs": inputs, "outputs": [{"name": "sum", "parameters": {"binary_data": True}}]}
    answer = httpx.post(url, json=binary)
    length = int(answer.headers["inference-header-content-length"])
    assert np.frombuffer(answer.content[length:], dtype="<f4").tolist() == [np.inf, -np.inf, 3.0]
