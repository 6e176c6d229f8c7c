"""Downloads against real local servers: a size cap, no https -> http downgrade, checksums."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.serving.tls_server import TlsFileServer

from ferryman_testing.file_server import StaticFileServer
from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def www(gradient_boosting: GradientBoostingFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www-downloads")
    (root / "gb").mkdir()
    shutil.copy(gradient_boosting.model_path, root / "gb" / "model.onnx")
    return root


@pytest.fixture(scope="module")
def plain(www: Path) -> Iterator[StaticFileServer]:
    with StaticFileServer(www) as server:
        yield server


@pytest.fixture(scope="module")
def tls(
    www: Path, plain: StaticFileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsFileServer]:
    with TlsFileServer(www, tmp_path_factory.mktemp("tls"), plain.url) as server:
        yield server


def serve(logs_dir: Path, tmp_path: Path, uri: str, **settings: str) -> ServingProcess:
    return ServingProcess(
        logs_dir,
        model_uri=uri,
        download_dir=str(tmp_path),
        drain_seconds="0",
        load_retry_initial_seconds="30",
        **settings,
    )


def failed_load_error(server: ServingProcess) -> str:
    """The error field of the first 'model failed to load' log line (waits for it)."""
    import orjson

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in server.logs().splitlines():
            if "model failed to load" in line:
                error: str = orjson.loads(line)["error"]
                return error
        time.sleep(0.05)
    raise AssertionError(f"no failed load in the log:\n{server.logs()}")


def test_https_download_works_with_a_trusted_certificate(
    tls: TlsFileServer, logs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the next test: the same HTTPS server serves the model when it does not redirect."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
    with serve(logs_dir, tmp_path, f"{tls.url}/gb/model.onnx") as server:
        server.wait_ready()


def test_https_redirect_to_http_is_refused(
    tls: TlsFileServer,
    plain: StaticFileServer,
    logs_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https://.../to-http/gb/model.onnx answers 302 to http://...: the loader must not follow it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
    plain.seen.clear()
    with serve(logs_dir, tmp_path, f"{tls.url}/to-http/gb/model.onnx") as server:
        server.wait_live()
        error = failed_load_error(server)
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
    assert "redirect from https to http refused" in error
    assert not [path for path, _ in plain.seen if path.endswith("model.onnx")], "the http URL was fetched"


def test_model_over_the_size_cap_is_refused(
    plain: StaticFileServer, gradient_boosting: GradientBoostingFiles, logs_dir: Path, tmp_path: Path
) -> None:
    size = gradient_boosting.model_path.stat().st_size
    with serve(logs_dir, tmp_path, f"{plain.url}/gb/model.onnx", max_model_bytes=str(size - 1)) as server:
        server.wait_live()
        error = failed_load_error(server)
    assert f"over FERRYMAN_MAX_MODEL_BYTES ({size - 1})" in error
    assert not list(tmp_path.rglob("model.onnx*")), "no partial file may stay behind"


def test_checksum_mismatch_fails_the_load_and_a_match_loads(
    plain: StaticFileServer, gradient_boosting: GradientBoostingFiles, logs_dir: Path, tmp_path: Path
) -> None:
    right = hashlib.sha256(gradient_boosting.model_path.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"another model").hexdigest()
    with serve(logs_dir, tmp_path / "a", f"{plain.url}/gb/model.onnx", model_sha256=wrong) as server:
        server.wait_live()
        error = failed_load_error(server)
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
    assert f"SHA-256 is {right}" in error and f"FERRYMAN_MODEL_SHA256 expects {wrong}" in error
    with serve(logs_dir, tmp_path / "b", f"{plain.url}/gb/model.onnx", model_sha256=right.upper()) as server:
        server.wait_ready()


def test_checksum_applies_to_local_files_too(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, tmp_path: Path
) -> None:
    wrong = "0" * 64
    with serve(logs_dir, tmp_path, f"file://{gradient_boosting.model_path}", model_sha256=wrong) as server:
        server.wait_live()
        assert "FERRYMAN_MODEL_SHA256 expects" in failed_load_error(server)
