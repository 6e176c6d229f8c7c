"""A model that computes for a while: probes and /metrics stay fast, saturation is a quick 503 with
Retry-After, the time limit gives 504, and latency is timed from arrival (queueing included)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.harness_models import make_busy_model

from ferryman_testing.bad_models import make_sometimes_slow_model
from ferryman_testing.models import FEATURES
from ferryman_testing.raw_http import connect, read_until_closed
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

ROW = {"inputs": [{"name": "features", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.5] * FEATURES}]}
PROBE_LIMIT_SECONDS = 0.1


@pytest.fixture(scope="module")
def busy_model(model_root: Path) -> Path:
    return make_busy_model(model_root / "busy" / "model.onnx")


def busy_server(busy_model: Path, logs_dir: Path, **settings: str) -> ServingProcess:
    return ServingProcess(
        logs_dir,
        model_uri=f"file://{busy_model}",
        model_name="busy",
        model_version="1",
        inference_threads="1",
        drain_seconds="0",
        **settings,
    )


class Background:
    """Infer requests sent at once from threads; `.answers` holds (status, seconds, headers) per request."""

    def __init__(self, url: str, count: int) -> None:
        self.answers: list[tuple[int, float, httpx.Headers]] = []
        self._lock = threading.Lock()
        self._start = threading.Barrier(count)
        self.threads = [threading.Thread(target=self._send, args=(url,)) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _send(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            client.get("/v2/health/live")  # connected before the clock starts
            self._start.wait()
            started = time.perf_counter()
            answer = client.post("/v2/models/busy/infer", json=ROW)
        with self._lock:
            self.answers.append((answer.status_code, time.perf_counter() - started, answer.headers))

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=120)


def inflight(client: httpx.Client) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name == "ferryman_inflight_requests":
            return float(family.samples[0].value)
    raise AssertionError("no ferryman_inflight_requests")


def wait_inflight(client: httpx.Client, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while inflight(client) < at_least:
        assert time.monotonic() < deadline, f"never {at_least} requests in flight"
        time.sleep(0.01)


def test_probes_and_metrics_answer_fast_while_inference_is_busy(busy_model: Path, logs_dir: Path) -> None:
    """Three ~0.3 s inferences queued on one worker: every probe and scrape meanwhile takes < 100 ms."""
    with busy_server(busy_model, logs_dir) as server, httpx.Client(base_url=server.url) as client:
        server.wait_ready()
        client.get("/v2/health/live")  # connect now: the probes below time only the request
        load = Background(server.url, 3)
        wait_inflight(client, 1)
        timings: dict[str, list[float]] = {"/v2/health/live": [], "/v2/health/ready": [], "/metrics": []}
        while load.running() and len(timings["/metrics"]) < 10:
            for path, seconds in timings.items():
                started = time.perf_counter()
                assert client.get(path).status_code == 200
                seconds.append(time.perf_counter() - started)
        still_busy = load.running()
        load.join()
    assert still_busy, "the inferences ended before the probes did: the model is too fast to show anything"
    assert [status for status, _, _ in load.answers] == [200, 200, 200]
    slowest = {path: max(seconds) for path, seconds in timings.items()}
    assert all(seconds < PROBE_LIMIT_SECONDS for seconds in slowest.values()), slowest


def test_saturated_server_answers_503_with_retry_after_at_once(busy_model: Path, logs_dir: Path) -> None:
    """Limit 2: with two requests computing or queued, the next ones get 503 + Retry-After, fast."""
    with busy_server(busy_model, logs_dir, max_inflight_requests="2") as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url) as client:
            admitted = Background(server.url, 2)
            wait_inflight(client, 2)
            refused = Background(server.url, 2)
            refused.join()
            assert admitted.running(), "the admitted requests must still be running while others are refused"
            admitted.join()
    assert sorted(status for status, _, _ in admitted.answers) == [200, 200]
    for status, seconds, headers in refused.answers:
        assert status == 503 and headers["retry-after"] == "1"
        assert seconds < PROBE_LIMIT_SECONDS * 5
    assert len(refused.answers) == 2


def test_request_over_the_time_limit_gets_504_at_the_limit(busy_model: Path, logs_dir: Path) -> None:
    """FERRYMAN_REQUEST_TIMEOUT_SECONDS=0.05 with a ~0.3 s model: 504 naming the setting, then the
    server still answers probes and counts the 504."""
    with busy_server(busy_model, logs_dir, request_timeout_seconds="0.05") as server:
        server.wait_ready()
        started = time.perf_counter()
        answer = httpx.post(f"{server.url}/v2/models/busy/infer", json=ROW, timeout=30)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 504, answer.text
        assert "FERRYMAN_REQUEST_TIMEOUT_SECONDS" in answer.json()["error"]
        assert elapsed < 0.25, f"the 504 came after {elapsed:.3f} s, not at the 0.05 s limit"
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'ferryman_requests_total{code="504",model="busy",version="1"} 1.0' in metrics


def test_latency_is_timed_from_arrival_so_queued_requests_count_as_slow(
    busy_model: Path, logs_dir: Path
) -> None:
    """Twelve requests at once on one worker: the client sees about T, 2T, ... 12T (T is 0.1-0.3 s); the
    histogram must count the queued ones as slower than 0.5 s (the judge's default p99 limit). The
    client's own time (twelve Python threads in this process) is given 0.3 s of slack. Twelve, not
    eight: on a quiet machine T is near 0.1 s and only the last few of eight wait long enough."""
    with busy_server(busy_model, logs_dir) as server:
        server.wait_ready()
        load = Background(server.url, 12)
        load.join()
        text = httpx.get(f"{server.url}/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    client_slow = sum(1 for _, seconds, _ in load.answers if seconds > 0.8)
    buckets = {
        s.labels["le"]: s.value
        for s in families["ferryman_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert "0.5" in buckets, "the judge reads the bucket whose le equals its 500 ms limit"
    server_slow = buckets["+Inf"] - buckets["0.5"]
    assert buckets["+Inf"] == 12
    assert client_slow >= 3, load.answers  # with T >= 0.1 s, at least the last three waited >= 8T
    assert server_slow >= client_slow, (server_slow, load.answers)


def test_request_counters_exist_at_zero_before_any_request(busy_model: Path, logs_dir: Path) -> None:
    """The codes the canary judge reads are exported at 0 once the version is known, so that
    Prometheus increase() sees a canary's very first errors."""
    with busy_server(busy_model, logs_dir) as server:
        server.wait_ready()
        metrics = httpx.get(f"{server.url}/metrics").text
    for code in ("200", "500", "503", "504"):
        assert f'ferryman_requests_total{{code="{code}",model="busy",version="1"}} 0.0' in metrics, code


def test_requests_that_time_out_while_queued_are_never_run(busy_model: Path, logs_dir: Path) -> None:
    """16 requests at once on one worker with a 1 s limit (each run ~0.15-0.3 s): the ones still queued
    at their deadline get 504 and are skipped, so a request sent right after finds the worker free and
    gets 200. Were they run anyway, the worker would stay busy for seconds and that request would time out."""
    with busy_server(busy_model, logs_dir, request_timeout_seconds="1") as server:
        server.wait_ready()
        burst = Background(server.url, 16)
        burst.join()
        statuses = sorted(status for status, _, _ in burst.answers)
        answer = httpx.post(f"{server.url}/v2/models/busy/infer", json=ROW, timeout=30)
    assert 504 in statuses and set(statuses) <= {200, 504}, statuses
    assert answer.status_code == 200, answer.text


def stalled_upload(server: ServingProcess) -> socket.socket:
    """An infer request whose headers announce a body that never comes (a stalled or hostile client)."""
    connection = connect(server.port)
    connection.sendall(
        b"POST /v2/models/busy/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"inputs": ['
    )
    return connection


def test_a_body_that_stops_arriving_gets_408_at_the_time_limit_and_frees_its_slot(
    busy_model: Path, logs_dir: Path
) -> None:
    """Limit 2, time limit 1 s: two clients announce a body and go quiet. Meanwhile both slots are taken
    (the next request gets 503); at the limit each stalled client gets a 408 naming the setting and its
    connection is closed, and requests are served again. Before, the slots stayed taken for as long as
    the clients kept their connections open."""
    with busy_server(busy_model, logs_dir, max_inflight_requests="2", request_timeout_seconds="1") as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            started = time.monotonic()
            stalled = [stalled_upload(server) for _ in range(2)]
            wait_inflight(client, 2)
            refused = client.post("/v2/models/busy/infer", json=ROW).status_code
            answers = [read_until_closed(connection) for connection in stalled]
            answered_after = time.monotonic() - started
            served = client.post("/v2/models/busy/infer", json=ROW).status_code
            metrics = client.get("/metrics").text
    assert refused == 503
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"FERRYMAN_REQUEST_TIMEOUT_SECONDS" in answer
    assert 1.0 <= answered_after < 3.0, answered_after
    assert served == 200
    assert 'ferryman_requests_total{code="408",model="busy",version="1"} 2.0' in metrics


def test_feedback_shares_the_admission_slots_of_infer_requests(busy_model: Path, logs_dir: Path) -> None:
    """Feedback bodies may be FERRYMAN_MAX_BODY_BYTES of JSON, so they are parsed on the worker under the
    infer limit. Limit 2: with two inferences in flight, feedback is refused with 503 at once; with one,
    it is admitted and answered. Before, feedback was parsed on the event loop with no limit, so any
    number of large bodies at once stalled probes and took memory without bound."""
    labels = {"id": "never-seen", "label": 1}
    with busy_server(busy_model, logs_dir, max_inflight_requests="2") as server:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            full = Background(server.url, 2)
            wait_inflight(client, 2)
            refused = client.post("/v2/models/busy/feedback", json=labels)
            full.join()
            one = Background(server.url, 1)
            wait_inflight(client, 1)
            admitted = client.post("/v2/models/busy/feedback", json=labels)
            one.join()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert "FERRYMAN_MAX_INFLIGHT_REQUESTS" in refused.json()["error"]
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["results"][0]["result"] == "unknown"


def test_a_model_slow_on_some_values_keeps_probes_fast_after_quick_requests(
    model_root: Path, logs_dir: Path
) -> None:
    """A model whose values decide its cost (an If: rows with a first feature above 5 take a ~1 s
    product): after many quick requests of the same shape, a marked one still leaves probes answering
    within 100 ms. Guards any "run requests known to be quick on the loop" shortcut, which this model
    defeats (one was tried on 2026-11-28 and failed this test: a probe waited 1.05 s)."""
    model = make_sometimes_slow_model(model_root / "sometimes-slow" / "model.onnx")
    marked = {"inputs": [{**ROW["inputs"][0], "data": [9.0] + [0.5] * (FEATURES - 1)}]}
    with (
        ServingProcess(logs_dir, model_uri=f"file://{model}", model_name="busy", drain_seconds="0") as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        server.wait_ready()
        for _ in range(50):
            assert client.post("/v2/models/busy/infer", json=ROW).status_code == 200
        slow = threading.Thread(
            target=lambda: httpx.post(f"{server.url}/v2/models/busy/infer", json=marked, timeout=60)
        )
        slow.start()
        probes = []
        while slow.is_alive():
            started = time.perf_counter()
            assert client.get("/v2/health/live").status_code == 200
            probes.append(time.perf_counter() - started)
        slow.join()
    assert len(probes) >= 3, "the marked request ended before the probes could show anything"
    assert max(probes) < PROBE_LIMIT_SECONDS, probes
