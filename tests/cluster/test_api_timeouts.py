"""An API server that accepts a connection and never answers costs a handler seconds, not a worker forever."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import kopf
import pytest
import yaml

from ferryman import k8s
from ferryman.k8s import client as k8s_client

# Pods to Ready (up to two minutes on a busy machine) before the checks.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture
def silent_api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """KUBECONFIG names a local listener that completes the TCP handshake and then says nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "silent", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "nobody", "user": {"token": "unused"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "nobody"}}],
        "current-context": "silent",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("FERRYMAN_API_TIMEOUT_SECONDS", "1")
    k8s_client.forget_connection()
    yield
    listener.close()
    k8s_client.forget_connection()  # later tests build their connection from their own KUBECONFIG


def test_a_request_without_answer_times_out_into_a_temporary_error(silent_api_server: None) -> None:
    """The handler gets a TemporaryError (retried later) soon after FERRYMAN_API_TIMEOUT_SECONDS."""
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            k8s.get(k8s.DEPLOYMENT, "default", "fraud-stable")
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    started = time.monotonic()
    worker = threading.Thread(target=call, daemon=True)  # without a timeout it would never return
    worker.start()
    worker.join(timeout=15)
    assert outcome, "the request was still waiting after 15 s"
    (error,) = outcome
    assert isinstance(error, kopf.TemporaryError), error
    assert "no answer from the API server" in str(error)
    assert time.monotonic() - started < 10
