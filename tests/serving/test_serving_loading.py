"""Model loading from http(s) and s3 URIs, and a model that fails to load: unready, alive, clear log."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ferryman_testing.file_server import StaticFileServer
from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def file_server(
    gradient_boosting: GradientBoostingFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StaticFileServer]:
    """The model and profile under /models/gb/ and, S3 path-style, under /bucket/fraud/v1/."""
    root = tmp_path_factory.mktemp("www")
    for directory in (root / "models" / "gb", root / "bucket" / "fraud" / "v1"):
        directory.mkdir(parents=True)
        shutil.copy(gradient_boosting.model_path, directory / "model.onnx")
        shutil.copy(gradient_boosting.profile_path, directory / "profile.json")
    with StaticFileServer(root) as server:
        yield server


def has_feature_histograms(server: ServingProcess) -> bool:
    return "ferryman_feature_value_bucket" in httpx.get(f"{server.url}/metrics").text


def test_https_style_uri_downloads_model_and_profile(
    file_server: StaticFileServer, logs_dir: Path, tmp_path: Path
) -> None:
    """An http(s) URI of model.onnx fetches it and profile.json beside it; the model then serves."""
    with ServingProcess(
        logs_dir,
        model_uri=f"{file_server.url}/models/gb/model.onnx",
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        assert has_feature_histograms(server)
        paths = [path for path, _ in file_server.seen]
        assert "/models/gb/model.onnx" in paths and "/models/gb/profile.json" in paths


def test_s3_uri_is_fetched_path_style_from_the_endpoint(
    file_server: StaticFileServer, logs_dir: Path, tmp_path: Path
) -> None:
    """s3://bucket/key goes to FERRYMAN_S3_ENDPOINT_URL/bucket/key, anonymous when no keys are set.

    The endpoint here is a static HTTP server laid out like an S3 bucket, not a real S3 implementation."""
    with ServingProcess(
        logs_dir,
        model_uri="s3://bucket/fraud/v1/",
        s3_endpoint_url=file_server.url,
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        assert has_feature_histograms(server)
    model_requests = [headers for path, headers in file_server.seen if path == "/bucket/fraud/v1/model.onnx"]
    assert model_requests and "authorization" not in model_requests[-1]


def test_s3_requests_are_signed_when_keys_are_set(
    file_server: StaticFileServer, logs_dir: Path, tmp_path: Path
) -> None:
    """With an access key, each GET carries a SigV4 Authorization for the configured region."""
    with ServingProcess(
        logs_dir,
        model_uri="s3://bucket/fraud/v1/model.onnx",
        s3_endpoint_url=file_server.url,
        s3_access_key_id="AKIDTEST",
        s3_secret_access_key="not-logged-secret",
        s3_region="eu-west-3",
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        logs = server.logs()
    headers = [h for path, h in file_server.seen if path == "/bucket/fraud/v1/model.onnx"][-1]
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/eu-west-3/s3/aws4_request" in headers["authorization"]
    assert "not-logged-secret" not in logs


def test_failed_load_stays_alive_and_unready_with_a_clear_log(
    file_server: StaticFileServer, logs_dir: Path, tmp_path: Path
) -> None:
    """A missing model: live 200, ready 503, infer 503 saying why, one ERROR log line, no secrets, no exit."""
    uri = (
        file_server.url.replace("http://", "http://user:hunter2@")
        + "/missing/model.onnx?X-Amz-Signature=topsecret"
    )
    with ServingProcess(
        logs_dir, model_uri=uri, model_name="fraud", download_dir=str(tmp_path), drain_seconds="0"
    ) as server:
        server.wait_live()
        deadline = time.monotonic() + 20
        while "model failed to load" not in server.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
        assert httpx.get(f"{server.url}/v2/models/fraud/ready").status_code == 503
        answer = httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": []})
        assert answer.status_code == 503 and "failed to load" in answer.json()["error"]
        time.sleep(0.5)
        assert server.process.poll() is None, "the process must keep running"
        logs = server.logs()
    errors = [orjson.loads(line) for line in logs.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1 and "HTTP 404" in errors[0]["error"]
    assert "/missing/model.onnx" in errors[0]["uri"]
    assert "hunter2" not in logs and "topsecret" not in logs
