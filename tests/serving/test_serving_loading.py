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
    """A missing model: live 200, ready 503 saying it retries (with the attempt), infer 503; the cause
    (URL, status code) is in the ERROR log line and nowhere in what clients get; no secrets; no exit."""
    uri = (
        file_server.url.replace("http://", "http://user:hunter2@")
        + "/missing/model.onnx?X-Amz-Signature=topsecret"
    )
    with ServingProcess(
        logs_dir,
        model_uri=uri,
        model_name="fraud",
        download_dir=str(tmp_path),
        drain_seconds="0",
        load_retry_initial_seconds="30",
    ) as server:
        server.wait_live()
        deadline = time.monotonic() + 20
        while "model failed to load" not in server.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = httpx.get(f"{server.url}/v2/health/ready")
        assert ready.status_code == 503
        assert ready.json()["reason"] == "loading failed (attempt 1); retrying, the server log has the cause"
        assert httpx.get(f"{server.url}/v2/models/fraud/ready").status_code == 503
        answer = httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": []})
        assert answer.status_code == 503 and "loading failed (attempt 1)" in answer.json()["error"]
        metadata = httpx.get(f"{server.url}/v2/models/fraud")
        assert metadata.status_code == 503
        time.sleep(0.5)
        assert server.process.poll() is None, "the process must keep running"
        logs = server.logs()
    port = file_server.url.rsplit(":", 1)[1]
    for client_body in (ready.text, answer.text, metadata.text):
        for detail in ("404", "/missing", "model.onnx", port, "127.0.0.1", "http", "ModelSourceError"):
            assert detail not in client_body, (detail, client_body)
    errors = [orjson.loads(line) for line in logs.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1 and "HTTP 404" in errors[0]["error"]
    assert "/missing/model.onnx" in errors[0]["uri"] and errors[0]["attempt"] == 1
    assert "hunter2" not in logs and "topsecret" not in logs


def test_failed_load_is_retried_until_the_file_server_has_the_model(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, tmp_path: Path
) -> None:
    """The file server answers 404 at first (the model is not published yet); once the file appears
    the next attempt loads it and the pod becomes ready, with no restart."""
    root = tmp_path / "www"
    (root / "late").mkdir(parents=True)
    with (
        StaticFileServer(root) as late_server,
        ServingProcess(
            logs_dir,
            model_uri=f"{late_server.url}/late/model.onnx",
            download_dir=str(tmp_path / "downloads"),
            drain_seconds="0",
            load_retry_initial_seconds="0.2",
            load_retry_max_seconds="0.4",
        ) as server,
    ):
        server.wait_live()
        deadline = time.monotonic() + 30
        while server.logs().count("model failed to load") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = httpx.get(f"{server.url}/v2/health/ready")
        assert ready.status_code == 503 and "retrying" in ready.json()["reason"]
        assert "loading failed (attempt" in ready.json()["reason"]
        shutil.copy(gradient_boosting.model_path, root / "late" / "model.onnx")
        server.wait_ready(timeout=30)
        logs = server.logs()
    assert "model ready" in logs
    model_gets = [path for path, _ in late_server.seen if path == "/late/model.onnx"]
    assert len(model_gets) >= 3


def test_sigterm_ends_the_load_retries(file_server: StaticFileServer, logs_dir: Path, tmp_path: Path) -> None:
    """A pod retrying a failed load every 60 s still stops at once on SIGTERM, with exit code 0."""
    server = ServingProcess(
        logs_dir,
        model_uri=f"{file_server.url}/missing/model.onnx",
        download_dir=str(tmp_path),
        drain_seconds="0",
        load_retry_initial_seconds="60",
    )
    try:
        server.wait_live()
        deadline = time.monotonic() + 20
        while "retrying the model load" not in server.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        server.terminate()
        code = server.process.wait(timeout=20)
        assert code == 0 and time.monotonic() - started < 10
    finally:
        server.stop()


def test_a_profile_that_is_not_a_distribution_fails_the_load_naming_the_rule(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, tmp_path: Path
) -> None:
    """profile.json with counts where shares belong: the pod stays unready (no histograms against a
    reference the drift monitor cannot use) and the ERROR line says which rule the file breaks."""
    directory = tmp_path / "model"
    directory.mkdir()
    shutil.copy(gradient_boosting.model_path, directory / "model.onnx")
    profile = orjson.loads(gradient_boosting.profile_path.read_bytes())
    profile["features"][0]["proportions"] = [100.0 for _ in profile["features"][0]["proportions"]]
    (directory / "profile.json").write_bytes(orjson.dumps(profile))
    with ServingProcess(
        logs_dir, model_uri=f"file://{directory}", drain_seconds="0", load_retry_initial_seconds="30"
    ) as server:
        server.wait_live()
        deadline = time.monotonic() + 20
        while "model failed to load" not in server.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
        logs = server.logs()
    errors = [orjson.loads(line) for line in logs.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1 and "proportions must sum to 1" in errors[0]["error"], errors
