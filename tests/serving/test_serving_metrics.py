"""/metrics counts exactly the requests sent: codes, latency, in-flight, feature and prediction buckets."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ferryman_serving.profile import load_profile
from ferryman_testing.load import infer_body
from ferryman_testing.models import FEATURES, GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def metrics_server(gradient_boosting: GradientBoostingFiles, logs_dir: Path) -> Iterator[ServingProcess]:
    """A fresh server so that only this module's requests are counted."""
    with ServingProcess(
        logs_dir,
        model_uri=f"file://{gradient_boosting.model_path}",
        model_name="fraud",
        model_version="3",
        drain_seconds="0",
    ) as server:
        yield server.wait_ready()


def scrape(server: ServingProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples[(name, tuple(sorted(labels.items())))]


def test_metric_values_match_the_requests_sent(
    metrics_server: ServingProcess, gradient_boosting: GradientBoostingFiles
) -> None:
    """7 single-row requests + one 3-row batch + 2 bad + 1 unknown model: every counter agrees."""
    rng = np.random.default_rng(11)
    rows = rng.standard_normal((10, FEATURES)).round(3)
    rows[0, 0] = np.nan  # NaN counts in +Inf only
    url = f"{metrics_server.url}/v2/models/fraud/infer"
    predictions = []
    batches = [rows[i : i + 1] for i in range(7)] + [rows[7:10]]
    for batch in batches:
        data = [None if np.isnan(v) else float(v) for v in batch.ravel()]
        body = {
            "inputs": [{"name": "features", "shape": list(batch.shape), "datatype": "FP32", "data": data}]
        }
        if np.isnan(batch).any():
            # JSON has no NaN: send this batch in binary form.
            body["inputs"][0]["parameters"] = {"binary_data_size": batch.astype("<f4").nbytes}
            del body["inputs"][0]["data"]
            header = httpx.Request("POST", url, json=body).content
            answer = httpx.post(
                url,
                content=header + batch.astype("<f4").tobytes(),
                headers={"Inference-Header-Content-Length": str(len(header))},
            )
        else:
            answer = httpx.post(url, json=body)
        assert answer.status_code == 200, answer.text
        predictions.extend(answer.json()["outputs"][0]["data"])
    for _ in range(2):
        assert httpx.post(url, json={"inputs": "nonsense"}).status_code == 400
    assert httpx.post(f"{metrics_server.url}/v2/models/other/infer", json={}).status_code == 404

    samples = scrape(metrics_server)
    model = {"model": "fraud", "version": "3"}
    assert sample(samples, "ferryman_requests_total", code="200", **model) == 8
    assert sample(samples, "ferryman_requests_total", code="400", **model) == 2
    assert sample(samples, "ferryman_requests_total", code="404", **model) == 1
    assert sample(samples, "ferryman_request_duration_seconds_count", **model) == 11
    assert sample(samples, "ferryman_inflight_requests", **model) == 0
    assert sample(samples, "ferryman_model_ready", **model) == 1
    assert sample(samples, "ferryman_model_info", source="file", **model) == 1

    profile = load_profile(gradient_boosting.profile_path)
    observed = rows.astype(np.float32).astype(np.float64)
    for index, feature in enumerate(profile.features):
        column = observed[:, index]
        for edge in feature.edges:
            le = repr(float(edge))
            got = sample(samples, "ferryman_feature_value_bucket", feature=feature.name, le=le, **model)
            assert got == np.sum(column <= edge), (feature.name, edge)
        # No _count/_sum here: Prometheus histograms with negative edges omit them; +Inf is the count.
        assert (
            sample(samples, "ferryman_feature_value_bucket", feature=feature.name, le="+Inf", **model) == 10
        )

    assert profile.prediction is not None
    values = np.asarray(predictions, dtype=np.float32).astype(np.float64)
    for edge in profile.prediction.edges:
        assert sample(samples, "ferryman_prediction_bucket", le=repr(float(edge)), **model) == np.sum(
            values <= edge
        )
    assert sample(samples, "ferryman_prediction_bucket", le="+Inf", **model) == 10


def test_latency_buckets_are_fine_below_ten_milliseconds(metrics_server: ServingProcess) -> None:
    """Rollback decisions compare p99 of millisecond models: there are buckets at 1, 2, 3 and 5 ms."""
    samples = scrape(metrics_server)
    edges = {
        dict(labels)["le"] for name, labels in samples if name == "ferryman_request_duration_seconds_bucket"
    }
    assert {"0.001", "0.002", "0.003", "0.005", "+Inf"} <= edges


def test_reference_proportions_are_exported_beside_the_live_buckets(
    metrics_server: ServingProcess, gradient_boosting: GradientBoostingFiles
) -> None:
    """The drift monitor reads the profile from Prometheus: one gauge per bin with the live bucket's `le`."""
    samples = scrape(metrics_server)
    profile = load_profile(gradient_boosting.profile_path)
    model = {"model": "fraud", "version": "3"}
    assert sample(samples, "ferryman_reference_samples", **model) == profile.n_samples
    for feature in profile.features:
        les = [repr(float(edge)) for edge in feature.edges] + ["+Inf"]
        shares = [
            sample(samples, "ferryman_feature_reference_proportion", feature=feature.name, le=le, **model)
            for le in les
        ]
        assert shares == pytest.approx(feature.proportions)
    assert profile.prediction is not None
    les = [repr(float(edge)) for edge in profile.prediction.edges] + ["+Inf"]
    shares = [sample(samples, "ferryman_prediction_reference_proportion", le=le, **model) for le in les]
    assert shares == pytest.approx(profile.prediction.proportions)


# Scrapes /metrics from 4 threads in another process (its own GIL) until stdin closes, then prints
# how many scrapes it made.
SCRAPE_FLOOD = """
import sys, threading, httpx
done = []
def scrape():
    with httpx.Client(base_url=sys.argv[1]) as client:
        while True:
            client.get("/metrics")
            done.append(1)
for _ in range(4):
    threading.Thread(target=scrape, daemon=True).start()
sys.stdin.read()
print(len(done))
"""


def median_infer_seconds(server: ServingProcess, count: int) -> float:
    body = infer_body()
    with httpx.Client(base_url=server.url) as client:
        client.get("/v2/health/live")  # connected before the clock starts
        seconds = []
        for _ in range(count):
            started = time.perf_counter()
            assert client.post("/v2/models/fraud/infer", json=body).status_code == 200
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def test_a_flood_of_scrapes_does_not_slow_inference(gb_server: ServingProcess) -> None:
    """A client scraping /metrics as fast as it is answered (4 connections) must not take the event loop
    or the GIL from infer requests. Each exposition of this model (drift histograms and reference
    shares) takes milliseconds to format; formatted on the loop, the flood took one client's infer
    median from ~2 ms to ~120 ms, and formatted back to back on a thread, to ~9 ms."""
    quiet = median_infer_seconds(gb_server, 200)
    flood = subprocess.Popen(
        [sys.executable, "-c", SCRAPE_FLOOD, gb_server.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        time.sleep(1)  # the flood is running
        flooded = median_infer_seconds(gb_server, 200)
    finally:
        scrapes, _ = flood.communicate(b"", timeout=30)
    assert int(scrapes) >= 10, "the flood did not scrape: it shows nothing"
    assert flooded < max(3 * quiet, quiet + 0.010), (
        f"infer median {quiet:.4f} s quiet, {flooded:.4f} s flooded"
    )
