"""Input that used to give 5xx, huge answers or huge memory: each is a quick 4xx naming the problem."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.harness_models import make_gram_model

from ferryman_serving.profile import PROFILE_FILENAME, build_profile, save_profile
from ferryman_testing.models import FEATURES, ONNX_TYPES
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


def infer(server: ServingProcess, model: str, inputs: list[dict[str, object]]) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{model}/infer", json={"inputs": inputs}, timeout=30)


def identity_inputs(datatype: str, data: list[object]) -> list[dict[str, object]]:
    """Every input of the identity model: `data` for in_<datatype>, valid zeros for the others."""
    inputs = []
    for name in ONNX_TYPES:
        values = data if name == datatype else [False] * 3 if name == "BOOL" else [0] * 3
        inputs.append({"name": f"in_{name}", "shape": [1, 3], "datatype": name, "data": values})
    return inputs


def gb_input(shape: list[int], data: list[float]) -> dict[str, object]:
    return {"name": "features", "shape": shape, "datatype": "FP32", "data": data}


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([0, 2**62], "over 4194304"),
        ([0, 2**64 - 1], "over 4194304"),
        ([1] * 70, "70 dimensions; at most 32"),
        ([4096, 4096], "holds 16777216 elements, over the limit of 4194304"),
    ],
)
def test_impossible_shapes_are_a_400(gb_server: ServingProcess, shape: list[int], message: str) -> None:
    answer = infer(gb_server, "fraud", [gb_input(shape, [])])
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"] and "inputs[0] ('features').shape" in answer.json()["error"]


@pytest.mark.parametrize(
    ("datatype", "data", "message"),
    [
        ("BOOL", ["false", True, False], "BOOL data must be JSON true or false"),
        ("BOOL", [2, -1, 0.5], "BOOL data must be JSON true or false"),
        ("FP32", ["nan", 1.0, 2.0], "FP32 data must be JSON numbers"),
        ("FP32", ["inf", 1.0, 2.0], "FP32 data must be JSON numbers"),
        ("FP32", [1.0, 1e300, 2.0], "element 1 (1e+300) is outside the FP32 range"),
        ("FP16", [1.0, 2.0, 70000.0], "element 2 (70000.0) is outside the FP16 range"),
        ("FP64", [True, False, True], "FP64 data must be JSON numbers"),
    ],
)
def test_values_the_datatype_cannot_hold_are_a_400(
    identity_server: ServingProcess, datatype: str, data: list[object], message: str
) -> None:
    answer = infer(identity_server, "identity", identity_inputs(datatype, data))
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"] and f"'in_{datatype}'" in answer.json()["error"]


def test_json_booleans_still_work(identity_server: ServingProcess) -> None:
    answer = infer(identity_server, "identity", identity_inputs("BOOL", [False, True, False]))
    assert answer.status_code == 200 and answer.json()["outputs"][0]["data"] == [False, True, False]


def test_inputs_that_disagree_on_a_shared_dimension_are_a_400(two_input_server: ServingProcess) -> None:
    """a [2, 3] and b [3, 3] where the model says both are [batch, 3]: ONNX Runtime fails inside Add."""
    a = {"name": "a", "shape": [2, 3], "datatype": "FP32", "data": [1.0] * 6}
    b = {"name": "b", "shape": [3, 3], "datatype": "FP32", "data": [1.0] * 9}
    answer = infer(two_input_server, "arith", [a, b])
    assert answer.status_code == 400, answer.text
    assert "disagree on dimension 'batch'" in answer.json()["error"]


def binary_strings(shape: list[int], count: int) -> tuple[bytes, dict[str, str]]:
    """A binary BYTES request of `count` empty strings declared with `shape`."""
    data = struct.pack("<I", 0) * count
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": shape,
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        }
    )
    return header + data, {"Inference-Header-Content-Length": str(len(header))}


def resident_bytes(server: ServingProcess) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text):
        if family.name == "process_resident_memory_bytes":
            return float(family.samples[0].value)
    raise AssertionError("no process_resident_memory_bytes")


@pytest.mark.parametrize("declared", ["as many", "ten"])
def test_sixteen_mib_of_empty_strings_is_a_quick_400_in_bounded_memory(
    string_server: ServingProcess, declared: str
) -> None:
    """4.19 M empty strings in a 16 MiB binary body (once 6.9 s, liveness stalled, +790 MB): declared as
    4.19 M elements (over FERRYMAN_MAX_STRING_ELEMENTS) or as 10 (a mismatch), a 400 in well under a
    second, and memory grows by less than four bodies."""
    count = (16 * 1024 * 1024 - 256) // 4
    body, headers = binary_strings([count] if declared == "as many" else [10], count)
    before = resident_bytes(string_server)
    started = time.perf_counter()
    answer = httpx.post(
        f"{string_server.url}/v2/models/echo/infer", content=body, headers=headers, timeout=60
    )
    elapsed = time.perf_counter() - started
    grown = resident_bytes(string_server) - before
    assert answer.status_code == 400, answer.text
    expected = "FERRYMAN_MAX_STRING_ELEMENTS" if declared == "as many" else "more than the 10 elements"
    assert expected in answer.json()["error"]
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert grown < 4 * len(body), f"resident memory grew by {grown / 2**20:.0f} MiB"


def test_binary_strings_fewer_than_the_shape_are_a_400(string_server: ServingProcess) -> None:
    body, headers = binary_strings([5], 3)
    answer = httpx.post(f"{string_server.url}/v2/models/echo/infer", content=body, headers=headers)
    assert answer.status_code == 400 and "holds 3 elements but shape [5] needs 5" in answer.json()["error"]


@pytest.fixture(scope="module")
def gram_server(model_root: Path, logs_dir: Path) -> Iterator[ServingProcess]:
    path = make_gram_model(model_root / "gram" / "model.onnx")
    with ServingProcess(logs_dir, model_uri=f"file://{path}", model_name="gram", drain_seconds="0") as server:
        yield server.wait_ready()


def test_tiny_request_for_a_huge_answer_is_a_400(gram_server: ServingProcess) -> None:
    """Shape [3000, 0] (no data at all) to x·xᵀ asks for 3000 x 3000 floats = 36 MB (once answered)."""
    answer = infer(gram_server, "gram", [{"name": "x", "shape": [3000, 0], "datatype": "FP32", "data": []}])
    assert answer.status_code == 400, answer.status_code
    assert (
        "36000000 bytes" in answer.json()["error"] and "FERRYMAN_MAX_RESPONSE_BYTES" in answer.json()["error"]
    )
    small = infer(
        gram_server, "gram", [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1.0, 2.0]}]
    )
    assert small.status_code == 200 and small.json()["outputs"][0]["data"] == [1.0, 2.0, 2.0, 4.0]


def test_rows_the_profile_cannot_place_are_answered_not_a_500(model_root: Path, logs_dir: Path) -> None:
    """A model whose widths follow the request, profiled on 2 features with prediction column 1: other
    widths are valid model input. The histograms skip them; before, each was a 500 (a client could fail
    a canary on purpose)."""
    directory = model_root / "gram-profiled"
    make_gram_model(directory / "model.onnx")
    training = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]], dtype=np.float32)
    profile = build_profile(
        training, training @ training.T, input_name="x", prediction_output="gram", prediction_column=1
    )
    save_profile(profile, directory / PROFILE_FILENAME)
    with ServingProcess(
        logs_dir, model_uri=f"file://{directory / 'model.onnx'}", model_name="gram", drain_seconds="0"
    ) as server:
        server.wait_ready()
        three_wide = infer(
            server, "gram", [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1.0] * 6}]
        )
        one_row = infer(
            server, "gram", [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]
        )
        two_rows = infer(
            server, "gram", [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1.0] * 4}]
        )
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert (three_wide.status_code, one_row.status_code, two_rows.status_code) == (200, 200, 200)
    assert one_row.json()["outputs"][0]["data"] == [5.0]
    # Features: the rows 2 wide (1 + 2); predictions: the answers with a column 1 (2 + 2).
    counts = {
        family.name: [sample.value for sample in family.samples if sample.name.endswith("_count")]
        for family in text_string_to_metric_families(metrics)
    }
    assert counts["ferryman_feature_value"] == [3.0, 3.0]
    assert counts["ferryman_prediction"] == [4.0]


def test_gb_server_still_serves_after_the_bad_input(gb_server: ServingProcess) -> None:
    answer = infer(gb_server, "fraud", [gb_input([1, FEATURES], [0.5] * FEATURES)])
    assert answer.status_code == 200
