"""Logging in from a kubeconfig: a request refused with 401 (a token renewed in its file since the login)
logs in again, once; a user with an exec plugin (as cloud providers write them) gets its token from it,
and from a new run of it after a 401."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
def api_server() -> Iterator[ApiServer]:
    server = ApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    k8s_client.forget_connection()  # later tests build their connection from their own KUBECONFIG


def _kubeconfig(path: Path, server: ApiServer, token: str = "", user: dict[str, Any] | None = None) -> None:
    port = server.server_address[1]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "operator", "user": user or {"token": token}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "operator"}}],
                "current-context": "local",
            }
        )
    )


def _use_kubeconfig(
    api_server: ApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str = "",
    user: dict[str, Any] | None = None,
) -> Path:
    """KUBECONFIG names a new file for this server and user; the next request logs in from it."""
    kubeconfig = tmp_path / "kubeconfig"
    _kubeconfig(kubeconfig, api_server, token, user)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    k8s_client.forget_connection()
    return kubeconfig


def _logged_in_with(
    token: str, api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    kubeconfig = _use_kubeconfig(api_server, tmp_path, monkeypatch, token)
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


# Prints the token named by its env entry, only when asked the way kubectl asks (KUBERNETES_EXEC_INFO).
PLUGIN = """
import json, os
asked = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert asked["kind"] == "ExecCredential" and asked["spec"]["interactive"] is False
status = {"token": os.environ["PLUGIN_TOKEN"], "expirationTimestamp": "2099-01-01T00:00:00Z"}
print(json.dumps({"apiVersion": asked["apiVersion"], "kind": "ExecCredential", "status": status}))
"""


def _exec_user(script: str) -> dict[str, Any]:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", script],
            "env": [{"name": "PLUGIN_TOKEN", "value": VALID_TOKEN}],
            "interactiveMode": "Never",
        }
    }


def test_a_kubeconfig_user_with_an_exec_plugin_logs_in_with_the_token_it_prints(
    api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_kubeconfig(api_server, tmp_path, monkeypatch, user=_exec_user(PLUGIN))

    assert k8s.get(k8s.DEPLOYMENT, "default", "fraud-stable") is not None
    assert api_server.authorizations == [f"Bearer {VALID_TOKEN}"]
    info = k8s_client.log_in(kopf.OperatorSettings())
    assert info is not None and info.expiration is not None and info.expiration.year == 2099


def test_a_failing_exec_plugin_is_a_login_error_naming_it_without_its_output(
    api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prints_then_fails = "import os, sys; print(os.environ['PLUGIN_TOKEN']); sys.exit(3)"
    _use_kubeconfig(api_server, tmp_path, monkeypatch, user=_exec_user(prints_then_fails))

    with pytest.raises(kopf.LoginError, match=r"exec plugin .* failed \(exit 3\)") as refused:
        k8s_client.log_in(kopf.OperatorSettings())
    assert VALID_TOKEN not in str(refused.value)
    assert api_server.authorizations == []


# A token that expires: the first run prints one the server no longer takes, later runs a fresh one.
EXPIRING_PLUGIN = """
import json, os, pathlib
runs = pathlib.Path(os.environ["PLUGIN_RUNS"])
count = len(runs.read_text()) if runs.exists() else 0
runs.write_text("x" * (count + 1))
token = "expired" if count == 0 else os.environ["PLUGIN_TOKEN"]
status = {"token": token, "expirationTimestamp": "2099-01-01T00:00:00Z"}
api_version = "client.authentication.k8s.io/v1"
print(json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "status": status}))
"""


def test_a_401_runs_the_exec_plugin_again_for_a_fresh_token(
    api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "plugin-runs"
    user = _exec_user(EXPIRING_PLUGIN)
    user["exec"]["env"].append({"name": "PLUGIN_RUNS", "value": str(runs)})
    _use_kubeconfig(api_server, tmp_path, monkeypatch, user=user)

    assert k8s.get(k8s.DEPLOYMENT, "default", "fraud-stable") is not None
    assert api_server.authorizations == ["Bearer expired", f"Bearer {VALID_TOKEN}"]
    assert runs.read_text() == "xx"
