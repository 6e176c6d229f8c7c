"""Graceful shutdown: on SIGTERM report unready, keep serving through the drain, finish in-flight, exit 0.

The rolling-restart test plays Kubernetes' part honestly: a client-side balancer sends each request to a
backend that its readiness poller last saw ready (what EndpointSlices do, with a 20 ms propagation delay
instead of seconds). Any non-200 answer or connection error counts as a failed request.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from ferryman_testing.models import FEATURES, GradientBoostingFiles
from ferryman_testing.polling import wait_for
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

REQUEST = {
    "inputs": [{"name": "features", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.5] * FEATURES}]
}


class ReadinessBalancer:
    """Tracks which backends answer /v2/health/ready with 200, polling every 20 ms."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.ready: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        with httpx.Client(timeout=1.0) as client:
            while not self.stopped.is_set():
                ready = []
                for url in list(self.backends):
                    try:
                        if client.get(f"{url}/v2/health/ready").status_code == 200:
                            ready.append(url)
                    except httpx.HTTPError:
                        pass
                self.ready = ready
                time.sleep(0.02)


def load(balancer: ReadinessBalancer, stop: threading.Event, outcomes: list[tuple[str, str]]) -> None:
    """Send requests back to back; record (backend, outcome) for each."""
    with httpx.Client(timeout=5.0) as client:
        turn = 0
        while not stop.is_set():
            ready = balancer.ready
            if not ready:
                time.sleep(0.005)
                continue
            backend = ready[turn % len(ready)]
            turn += 1
            try:
                answer = client.post(f"{backend}/v2/models/fraud/infer", json=REQUEST)
                outcomes.append(
                    (backend, "ok" if answer.status_code == 200 else f"HTTP {answer.status_code}")
                )
            except httpx.HTTPError as error:
                outcomes.append((backend, repr(error)))


def test_rolling_restart_under_load_fails_no_request(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, serving_backend: type[ServingProcess]
) -> None:
    """Old pod SIGTERMed while a new one takes over: zero failed requests, old pod exits 0."""
    settings = {
        "model_uri": f"file://{gradient_boosting.model_path}",
        "model_name": "fraud",
        "drain_seconds": "1.0",
    }
    balancer = ReadinessBalancer()
    old = serving_backend(logs_dir, **settings).wait_ready()
    balancer.backends.append(old.url)
    stop, outcomes = threading.Event(), []
    clients = [threading.Thread(target=load, args=(balancer, stop, outcomes)) for _ in range(4)]
    for thread in clients:
        thread.start()
    new = serving_backend(logs_dir, **settings)
    try:
        time.sleep(0.5)
        new.wait_ready()
        balancer.backends.append(new.url)
        time.sleep(0.5)
        old.terminate()
        exit_code = old.process.wait(timeout=30)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
        balancer.stopped.set()
        new.stop()
        old.stop()
    failures = [outcome for outcome in outcomes if outcome[1] != "ok"]
    served_by = {backend for backend, _ in outcomes}
    assert failures == [], failures[:5]
    assert served_by == {old.url, new.url}, "both pods must have served traffic"
    assert len(outcomes) > 100
    assert exit_code == 0
    assert "draining" in old.logs()


def infer_in_flight(url: str) -> bool:
    """Whether the server counts an infer request in flight (ferryman_inflight_requests)."""
    text = httpx.get(f"{url}/metrics", timeout=2).text
    values = [
        line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith("ferryman_inflight_requests{")
    ]
    return any(float(value) >= 1 for value in values)


def test_request_in_flight_at_sigterm_completes(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, serving_backend: type[ServingProcess]
) -> None:
    """A request whose body is still uploading when SIGTERM arrives is answered 200 before the exit."""
    rows = np.random.default_rng(5).standard_normal((2000, FEATURES)).astype("<f4")
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ]
        }
    )
    payload = header + rows.tobytes()
    server = serving_backend(
        logs_dir, model_uri=f"file://{gradient_boosting.model_path}", model_name="fraud", drain_seconds="0"
    ).wait_ready()
    halfway = threading.Event()

    def slow_body():  # type: ignore[no-untyped-def]
        yield payload[: len(payload) // 2]
        halfway.set()
        time.sleep(0.5)  # SIGTERM lands here, mid-upload
        yield payload[len(payload) // 2 :]

    result: dict[str, object] = {}

    def send() -> None:
        answer = httpx.post(
            f"{server.url}/v2/models/fraud/infer",
            content=slow_body(),
            headers={
                "Inference-Header-Content-Length": str(len(header)),
                "Content-Length": str(len(payload)),
            },
            timeout=10,
        )
        result["status"] = answer.status_code
        result["rows"] = (
            orjson.loads(answer.content)["outputs"][0]["shape"][0] if answer.status_code == 200 else 0
        )

    sender = threading.Thread(target=send)
    sender.start()
    assert halfway.wait(10)
    # Only once the server has the request (its headers read, the body still coming): before that the
    # connection is idle to it, and closing idle connections at SIGTERM is right (seen on a busy machine).
    wait_for("the server reading the request", lambda: infer_in_flight(server.url), timeout=5, every=0.02)
    server.terminate()
    sender.join(15)
    assert result == {"status": 200, "rows": 2000}
    # Wait for the exit the first SIGTERM started: stop() would send a second one, and a second SIGTERM
    # during shutdown ends the process by the signal (-15) on a slow machine.
    assert server.process.wait(timeout=30) == 0
    server.stop()
