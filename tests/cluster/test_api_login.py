"""A request refused with 401 (a token renewed in its file since the login) logs in again, once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kopf
import pytest
import yaml

from ferryman import k8s
from ferryman.k8s import client as k8s_client

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]

VALID_TOKEN = "renewed"


class ApiServer(ThreadingHTTPServer):
    """Answers GETs for the token VALID_TOKEN and 401 to any other, noting each Authorization header."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.authorizations: list[str | None] = []


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization")
        self.server.authorizations.append(authorization)
        if authorization == f"Bearer {VALID_TOKEN}":
            status, body = 200, {"kind": "Deployment", "metadata": {"name": "fraud-stable"}}
        else:
            status, body = 401, {"kind": "Status", "message": "Unauthorized", "code": 401}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    server = ApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    k8s_client.forget_connection()  # later tests build their connection from their own KUBECONFIG


def _kubeconfig(path: Path, server: ApiServer, token: str) -> None:
    port = server.server_address[1]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "operator"}}],
                "current-context": "local",
            }
        )
    )


def _logged_in_with(
    token: str, api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    _kubeconfig(kubeconfig, api_server, token)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    k8s_client.forget_connection()
    k8s_client.api_connection()  # logged in now, with this token
    return kubeconfig


def test_a_401_reads_the_credentials_again_and_repeats_the_request(
    api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = _logged_in_with("expired", api_server, tmp_path, monkeypatch)
    _kubeconfig(kubeconfig, api_server, VALID_TOKEN)  # renewed in the file since the login

    deployment = k8s.get(k8s.DEPLOYMENT, "default", "fraud-stable")

    assert deployment is not None and deployment["metadata"]["name"] == "fraud-stable"
    assert api_server.authorizations == ["Bearer expired", f"Bearer {VALID_TOKEN}"]


def test_credentials_still_refused_after_logging_in_again_are_a_temporary_error_after_one_retry(
    api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _logged_in_with("revoked", api_server, tmp_path, monkeypatch)

    with pytest.raises(kopf.TemporaryError, match="401"):
        k8s.get(k8s.DEPLOYMENT, "default", "fraud-stable")

    assert api_server.authorizations == ["Bearer revoked", "Bearer revoked"]
