"""An existing Open Inference Protocol client works unchanged: tritonclient's HTTP client, JSON and binary."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from ferryman_testing.models import FEATURES, GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

tritonhttp = pytest.importorskip("tritonclient.http")


def expected(files: GradientBoostingFiles, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(files.model_path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"features": rows})[0])


@pytest.fixture
def client(gb_server: ServingProcess) -> tritonhttp.InferenceServerClient:
    return tritonhttp.InferenceServerClient(url=gb_server.url.removeprefix("http://"))


def test_health_and_metadata_through_tritonclient(client: tritonhttp.InferenceServerClient) -> None:
    """The client's own health and metadata calls understand our answers."""
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("fraud")
    metadata = client.get_model_metadata("fraud")
    assert metadata["inputs"][0]["name"] == "features"


@pytest.mark.parametrize("binary_in", [False, True])
@pytest.mark.parametrize("binary_out", [False, True])
def test_infer_through_tritonclient(
    client: tritonhttp.InferenceServerClient,
    gradient_boosting: GradientBoostingFiles,
    binary_in: bool,
    binary_out: bool,
) -> None:
    """JSON and binary inputs and outputs, request id, version path: the results are the model's."""
    rows = np.random.default_rng(3).standard_normal((4, FEATURES)).astype(np.float32)
    tensor = tritonhttp.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary_in)
    result = client.infer(
        "fraud",
        [tensor],
        model_version="7",
        request_id="triton-1",
        outputs=[tritonhttp.InferRequestedOutput("variable", binary_data=binary_out)],
    )
    np.testing.assert_allclose(result.as_numpy("variable"), expected(gradient_boosting, rows), rtol=1e-6)
    assert result.get_response()["id"] == "triton-1"


def test_infer_without_outputs_gets_binary_by_default(
    client: tritonhttp.InferenceServerClient, gradient_boosting: GradientBoostingFiles
) -> None:
    """tritonclient asks for binary_data_output when no outputs are named; we honour it."""
    rows = np.ones((1, FEATURES), dtype=np.float32)
    tensor = tritonhttp.InferInput("features", [1, FEATURES], "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer("fraud", [tensor])
    np.testing.assert_allclose(result.as_numpy("variable"), expected(gradient_boosting, rows), rtol=1e-6)
    assert "binary_data_size" in result.get_response()["outputs"][0]["parameters"]
