"""The liveness endpoint of a standby replica, while it waits for the Lease and Kopf has not started.

Kopf serves the liveness endpoint only once it runs. A standby may wait for the Lease for as long as the
leader lives, and the chart's livenessProbe would meanwhile restart it every minute or so; so a waiting
replica answers the same address itself (it is alive: it is looking at the Lease) and frees the port
just before Kopf takes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@contextmanager
def answering_liveness(endpoint: str) -> Iterator[None]:
    """Answer 200 on endpoint's path (e.g. http://0.0.0.0:8081/healthz) until the block ends; "" : nothing."""
    if not endpoint:
        yield
        return
    url = urlsplit(endpoint)
    path = url.path or "/"

    class Liveness(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path.split("?")[0] == path else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds are not worth a log line."""

    server = ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), Liveness)
    thread = threading.Thread(target=server.serve_forever, name="standby-liveness", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
