"""A tiny pod process for the e2e infrastructure tests: answers its own name and exports metrics.

Run as a pod's container command (stdlib only, so it starts fast under `ip netns exec`):
    python test-support/ferryman_testing/echo_server.py
Environment:
    POD_IP        address to bind (the pod IP, from fieldRef status.podIP); default 127.0.0.1
    PORT          port to bind; default 8080
    ECHO_NAME     the body of every answer; default the pod name (HOSTNAME)
    ECHO_MODEL, ECHO_VERSION   labels of ferryman_requests_total, like the serving image's metrics
Every path except /metrics and /healthz answers 200 with ECHO_NAME and counts the request in
    ferryman_requests_total{model,version,code}
    ferryman_request_duration_seconds (histogram)
so a test can see from Prometheus (or from /metrics) how many requests reached this process.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class Counters:
    """Request count and latency histogram; one lock, the server is threaded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bucket_counts = [0] * len(BUCKETS)
        self.duration_sum = 0.0

    def observe(self, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.duration_sum += seconds
            for i, edge in enumerate(BUCKETS):
                if seconds <= edge:
                    self.bucket_counts[i] += 1

    def exposition(self, model: str, version: str) -> str:
        labels = f'model="{model}",version="{version}"'
        with self.lock:
            lines = [
                "# TYPE ferryman_requests_total counter",
                f'ferryman_requests_total{{{labels},code="200"}} {self.requests}',
                "# TYPE ferryman_request_duration_seconds histogram",
            ]
            for edge, count in zip(BUCKETS, self.bucket_counts, strict=True):
                lines.append(f'ferryman_request_duration_seconds_bucket{{{labels},le="{edge}"}} {count}')
            lines.append(f'ferryman_request_duration_seconds_bucket{{{labels},le="+Inf"}} {self.requests}')
            lines.append(f"ferryman_request_duration_seconds_sum{{{labels}}} {self.duration_sum}")
            lines.append(f"ferryman_request_duration_seconds_count{{{labels}}} {self.requests}")
        return "\n".join(lines) + "\n"


def make_handler(name: str, model: str, version: str, counters: Counters) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Traefik's and Prometheus' clients expect
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus delayed ACKs add ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            started = time.perf_counter()
            if self.path == "/metrics":
                self._send(counters.exposition(model, version), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                self._send("ok\n", "text/plain")
            else:
                self._send(name, "text/plain")
                counters.observe(time.perf_counter() - started)

        do_POST = do_GET

        def _send(self, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would flood the pod log

    return Handler


def main() -> None:
    name = os.environ.get("ECHO_NAME") or os.environ.get("HOSTNAME", "echo")
    handler = make_handler(
        name, os.environ.get("ECHO_MODEL", "echo"), os.environ.get("ECHO_VERSION", "v1"), Counters()
    )
    server = ThreadingHTTPServer(
        (os.environ.get("POD_IP", "127.0.0.1"), int(os.environ.get("PORT", "8080"))), handler
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
