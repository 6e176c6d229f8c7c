"""Steady inference traffic for rollout scenarios: bounded in rate and time, counted by outcome."""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import numpy as np

from ferryman_testing.models import FEATURES, INPUT_NAME

MAX_SECONDS = 600.0  # a load generator never outlives a scenario by much, whatever the caller does
CLOSED_LOOP_RATE = 1000.0  # far above what one client gets answered: each sends again at once


def infer_body(seed: int = 0, first_feature: float | None = None) -> dict[str, object]:
    """A one-row request; `first_feature` overrides the first value (bad_models use it as a marker)."""
    row = np.random.default_rng(seed).standard_normal(FEATURES).astype(np.float32)
    if first_feature is not None:
        row[0] = first_feature
    return {
        "inputs": [{"name": INPUT_NAME, "shape": [1, FEATURES], "datatype": "FP32", "data": row.tolist()}]
    }


def breast_cancer_bodies(count: int = 40) -> list[dict[str, object]]:
    """One-row requests of real rows of scikit-learn's breast-cancer data (30 float features), for models
    trained by examples/train_breast_cancer.py (input `features`)."""
    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer().data[:count]
    return [
        {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row.tolist()}]}
        for row in rows
    ]


@dataclass
class LoadReport:
    """Responses by status code and, for 200s, by the model version that answered."""

    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    versions: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: int = 0  # connection errors and timeouts
    first_error: str = ""  # the body of the first error answer, to say what went wrong
    latencies: list[float] = field(default_factory=list)  # seconds, of every answer (any status)

    @property
    def total(self) -> int:
        return sum(self.codes.values()) + self.failures

    @property
    def errors(self) -> int:
        return self.failures + sum(n for code, n in self.codes.items() if code >= 500)


class LoadGenerator:
    """Sends POST /v2/models/<model>/infer at about `rate` requests per second from one thread."""

    def __init__(
        self,
        base_url: str,
        model: str,
        rate: float,
        headers: dict[str, str] | None = None,
        bodies: list[dict[str, object]] | None = None,
    ) -> None:
        self.url = f"{base_url}/v2/models/{model}/infer"
        self.bodies = bodies or [infer_body()]
        self.period = 1.0 / rate
        self.headers = headers or {}
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def snapshot(self) -> LoadReport:
        with self._lock:
            report = self.report
            codes, versions = collections.Counter(report.codes), collections.Counter(report.versions)
            return LoadReport(codes, versions, report.failures, report.first_error, list(report.latencies))

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        # Bodies in a seeded random order, not in turn: a fixed cycle can line up with the gateway's
        # (deterministic) weighted round robin and send one body to one backend only.
        pick = random.Random(0)
        with httpx.Client(timeout=5.0) as client:
            next_send = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._send(client, pick.choice(self.bodies))
                next_send += self.period
                self._stop.wait(max(0.0, next_send - time.monotonic()))

    def _send(self, client: httpx.Client, body: dict[str, object]) -> None:
        started = time.monotonic()
        try:
            response = client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError:
            with self._lock:
                self.report.failures += 1
            return
        version = ""
        if response.status_code == 200:
            version = str(response.json().get("model_version", ""))
        with self._lock:
            if response.status_code >= 500 and not self.report.first_error:
                self.report.first_error = (
                    f"{time.strftime('%H:%M:%S')} {response.status_code} {response.text[:200]}"
                )
            self.report.codes[response.status_code] += 1
            self.report.latencies.append(time.monotonic() - started)
            if version:
                self.report.versions[version] += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> LoadReport:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.snapshot()


@contextmanager
def steady_load(
    base_url: str,
    model: str,
    rate: float,
    headers: dict[str, str] | None = None,
    bodies: list[dict[str, object]] | None = None,
) -> Iterator[LoadGenerator]:
    generator = LoadGenerator(base_url, model, rate, headers, bodies)
    generator.start()
    try:
        yield generator
    finally:
        generator.stop()


@contextmanager
def concurrent_clients(
    base_url: str, model: str, clients: int, headers: dict[str, str] | None = None
) -> Iterator[list[LoadGenerator]]:
    """`clients` threads, each sending its next request as soon as the last one is answered (a closed loop).

    With a model slower than the client's own round trip, about `clients` requests are in flight at the
    servers whatever their speed: the load an autoscaler on in-flight requests is tested with.
    """
    generators = [LoadGenerator(base_url, model, CLOSED_LOOP_RATE, headers) for _ in range(clients)]
    for generator in generators:
        generator.start()
    try:
        yield generators
    finally:
        for generator in generators:
            generator.stop()


def merged(generators: list[LoadGenerator]) -> LoadReport:
    """One report of several generators' answers."""
    total = LoadReport()
    for report in (generator.snapshot() for generator in generators):
        total.codes.update(report.codes)
        total.versions.update(report.versions)
        total.failures += report.failures
        total.first_error = total.first_error or report.first_error
        total.latencies.extend(report.latencies)
    return total
