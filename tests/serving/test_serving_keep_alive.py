"""Idle connections: they outlive the proxies' in front of the server, and many of them do not lock
out new clients.

A proxy (Traefik, Envoy, a cloud load balancer) keeps idle connections to its backends for a while
(Traefik: 90 s) and reuses them. If the server closes an idle connection first, a request the proxy
sends on it at that moment fails as a 502 although the backend is healthy: the server must keep idle
connections open longer than the proxy does.
"""

from __future__ import annotations

import http.client
import resource
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.servers import ServingProcess, open_files_soft_limit

pytestmark = pytest.mark.serving

# Longer than uvicorn's own default (5 s), which used to close idle connections under the proxies' feet.
IDLE_SECONDS = 6.5


def test_an_idle_connection_is_still_open_after_uvicorns_default_keep_alive(
    gb_server: ServingProcess,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gb_server.port, timeout=5)
    try:
        connection.request("GET", "/v2/health/live")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(IDLE_SECONDS)
        connection.request("GET", "/v2/health/live")  # on the same connection: http.client never reconnects
        second = connection.getresponse()
        second.read()
        assert second.status == 200
    finally:
        connection.close()


def test_many_idle_connections_do_not_lock_out_a_probe(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    """Started with a soft limit of 128 open files: 300 idle client connections, then a probe on a new
    connection still answers, because the server raises its soft limit to the hard one. With 128 it
    could not accept the probe's connection: a kubelet would restart the pod."""
    idle = 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < idle + 200 or soft < idle + 50:
        pytest.skip(f"needs open-files limits above {idle + 200} (hard) and {idle + 50} (soft here)")
    with open_files_soft_limit(128):
        model_uri = f"file://{gradient_boosting.model_path}"
        server = ServingProcess(logs_dir, model_uri=model_uri, model_name="fraud", drain_seconds="0")
    with server, ExitStack() as connections:
        server.wait_ready()
        for _ in range(idle):
            connections.enter_context(socket.create_connection(("127.0.0.1", server.port)))
        answer = httpx.get(f"{server.url}/v2/health/live", timeout=5)
    assert answer.status_code == 200


def test_a_keep_alive_below_a_second_is_kept_not_cut_to_zero(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    """FERRYMAN_KEEP_ALIVE_SECONDS=1.5 reached uvicorn as int 1; 0.5 as 0, which closed every connection
    after its answer. A second request 1.2 s later still finds the connection open."""
    model_uri = f"file://{gradient_boosting.model_path}"
    with ServingProcess(logs_dir, model_uri=model_uri, drain_seconds="0", keep_alive_seconds="1.5") as server:
        server.wait_ready()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            for pause in (0.0, 1.2):
                time.sleep(pause)
                connection.request("GET", "/v2/health/live")  # http.client never reconnects by itself
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 200
        finally:
            connection.close()
