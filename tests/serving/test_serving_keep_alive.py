"""Idle keep-alive connections outlive the proxies' in front of the server.

A proxy (Traefik, Envoy, a cloud load balancer) keeps idle connections to its backends for a while
(Traefik: 90 s) and reuses them. If the server closes an idle connection first, a request the proxy
sends on it at that moment fails as a 502 although the backend is healthy: the server must keep idle
connections open longer than the proxy does.
"""

from __future__ import annotations

import http.client
import time

import pytest

from ferryman_testing.servers import ServingProcess

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
