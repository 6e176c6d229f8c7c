"""Serving metrics, counted in plain Python ints and numpy arrays and exposed in the Prometheus format.

The hot path only adds to counters. A scrape copies them on the event loop (`ServingMetrics.snapshot`,
microseconds) and `render` formats the copy, which takes milliseconds and so runs off the loop
(ferryman_serving.exposition). The request counters change only on the event loop, so they need no
lock; histograms and feedback, counted on worker threads, lock their own. Names: docs/metrics.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from prometheus_client import PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _untyped_go_float

from ferryman_serving.feedback import ERROR_BUCKETS, FeedbackCounts, VersionScores
from ferryman_serving.histograms import BucketCounts, BucketSnapshot

# Fine below 10 ms, where small models live, coarse above it.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# Status codes whose series exist at zero from the moment a version is known: Prometheus' increase()
# needs a sample before the first error to count it, and canary analysis reads exactly these codes.
# 500 = server fault, 503 = not ready or overloaded, 504 = FERRYMAN_REQUEST_TIMEOUT_SECONDS exceeded.
PRECREATED_CODES: tuple[int, ...] = (200, 500, 503, 504)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _go_float(value: float) -> str:
    """Prometheus' spelling of a bucket edge (+Inf, 0.005, 1.0)."""
    text: str = _untyped_go_float(value)  # type: ignore[no-untyped-call]
    return text


class ServingMetrics:
    """Counters for one served model. Labels (model, version) are read at scrape time."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.model_version = ""
        self.model_ready = False
        self.source_scheme = ""
        self.inflight = 0
        # Counts per version, so that requests answered before the model loaded stay under version "".
        self.requests_by_code: dict[int, int] = {}
        self.requests_by_version: dict[str, dict[int, int]] = {"": self.requests_by_code}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.features: BucketCounts | None = None
        self.feature_names: list[str] = []
        self.prediction: BucketCounts | None = None
        # The reference profile's proportions per bin, exported beside the live buckets so that the
        # operator's drift monitor reads both from Prometheus and never downloads the model's files.
        self.reference: ReferenceExport | None = None
        self.feedback = FeedbackCounts()

    def set_version(self, version: str) -> None:
        """The loaded model's version: its request counters start with the precreated codes at zero."""
        self.model_version = version
        counts = self.requests_by_version.setdefault(version, {})
        for code in PRECREATED_CODES:
            counts.setdefault(code, 0)
        self.requests_by_code = counts

    def record_request(self, code: int, seconds: float) -> None:
        """One finished infer request."""
        self.requests_by_code[code] = self.requests_by_code.get(code, 0) + 1
        self.latency_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def use_profile_edges(
        self, feature_names: Sequence[str], feature_edges: Sequence[Sequence[float]] | None,
        prediction_edges: Sequence[float] | None,
    ) -> None:  # fmt: skip
        """Set bucket edges for the feature and prediction histograms (from the reference profile)."""
        self.feature_names = list(feature_names)
        self.features = BucketCounts(feature_edges) if feature_edges else None
        self.prediction = BucketCounts([prediction_edges]) if prediction_edges is not None else None

    def use_reference(self, reference: ReferenceExport | None) -> None:
        self.reference = reference

    def observe_features(self, rows: np.ndarray) -> None:
        if self.features is not None:
            self.features.observe(rows)

    def observe_predictions(self, values: np.ndarray) -> None:
        if self.prediction is not None:
            self.prediction.observe(values.reshape(-1, 1))

    def snapshot(self) -> MetricsSnapshot:
        """Every counter as it is now, copied; call it on the event loop, where requests are counted."""
        results, scores = self.feedback.snapshot()
        return MetricsSnapshot(
            model_name=self.model_name,
            model_version=self.model_version,
            model_ready=self.model_ready,
            source_scheme=self.source_scheme,
            inflight=self.inflight,
            requests_by_version={v: dict(counts) for v, counts in self.requests_by_version.items()},
            latency_counts=tuple(self.latency_counts),
            latency_sum=self.latency_sum,
            feature_names=tuple(self.feature_names),
            features=self.features.snapshot() if self.features is not None else None,
            prediction=self.prediction.snapshot() if self.prediction is not None else None,
            reference=self.reference,
            feedback_results=results,
            feedback_scores=scores,
        )


@dataclass(frozen=True)
class MetricsSnapshot:
    """What ServingMetrics counted up to one moment; `render` formats it on any thread."""

    model_name: str
    model_version: str
    model_ready: bool
    source_scheme: str
    inflight: int
    requests_by_version: dict[str, dict[int, int]]
    latency_counts: tuple[int, ...]
    latency_sum: float
    feature_names: tuple[str, ...]
    features: BucketSnapshot | None
    prediction: BucketSnapshot | None
    reference: ReferenceExport | None
    feedback_results: dict[str, int]
    feedback_scores: dict[str, VersionScores]


def render(snapshot: MetricsSnapshot) -> bytes:
    """The Prometheus text exposition of a snapshot, with the process and platform metrics of now."""
    return generate_latest(_Registry(snapshot))


# Process (CPU, memory, file descriptors) and Python version metrics, read from /proc at each scrape.
_PROCESS_COLLECTORS = (ProcessCollector(registry=None), PlatformCollector(registry=None))


class _Registry(Collector):
    """The collectors of one exposition: the snapshot's metrics, then the process's."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        yield from _serving(self.snapshot)
        for collector in _PROCESS_COLLECTORS:
            yield from collector.collect()


def _serving(m: MetricsSnapshot) -> Iterable[Metric]:
    labels = [m.model_name, m.model_version]
    yield from _model_state(m, labels)
    requests = CounterMetricFamily(
        "ferryman_requests", "Infer requests by HTTP status code.", labels=["model", "version", "code"]
    )
    for version, counts in m.requests_by_version.items():
        for code, count in sorted(counts.items()):
            requests.add_metric([m.model_name, version, str(code)], count)
    yield requests
    yield _latency(m, labels)
    inflight = GaugeMetricFamily(
        "ferryman_inflight_requests", "Infer requests being served now.", labels=["model", "version"]
    )
    inflight.add_metric(labels, m.inflight)
    yield inflight
    if m.prediction is not None:
        prediction = HistogramMetricFamily(
            "ferryman_prediction",
            "Model predictions, bucketed by the reference profile's prediction edges.",
            labels=["model", "version"],
        )
        _add_series(prediction, labels, m.prediction, 0)
        yield prediction
    if m.features is not None:
        features = HistogramMetricFamily(
            "ferryman_feature_value",
            "Input feature values, bucketed by the reference profile's quantile edges.",
            labels=["model", "version", "feature"],
        )
        for index, name in enumerate(m.feature_names):
            _add_series(features, [*labels, name], m.features, index)
        yield features
    if m.reference is not None:
        yield from _reference(labels, m.reference)
    yield from _feedback(m)


@dataclass(frozen=True)
class ReferenceExport:
    """What the profile says the histograms should look like: proportions per bin (by upper edge)."""

    samples: int
    features: dict[str, tuple[list[float], list[float]]]  # name -> (edges, proportions)
    prediction: tuple[list[float], list[float]] | None


def _reference(labels: list[str], reference: ReferenceExport) -> Iterable[Metric]:
    samples = GaugeMetricFamily(
        "ferryman_reference_samples",
        "Training rows the reference profile summarises.",
        labels=["model", "version"],
    )
    samples.add_metric(labels, float(reference.samples))
    yield samples
    if reference.features:
        features = GaugeMetricFamily(
            "ferryman_feature_reference_proportion",
            "Share of the reference (training) rows in each bin of ferryman_feature_value (le: upper edge).",
            labels=["model", "version", "feature", "le"],
        )
        for name, (edges, proportions) in reference.features.items():
            _add_shares(features, [*labels, name], edges, proportions)
        yield features
    if reference.prediction is not None:
        prediction = GaugeMetricFamily(
            "ferryman_prediction_reference_proportion",
            "Share of the reference predictions in each bin of ferryman_prediction (le: upper edge).",
            labels=["model", "version", "le"],
        )
        _add_shares(prediction, labels, *reference.prediction)
        yield prediction


def _add_shares(
    family: GaugeMetricFamily, labels: list[str], edges: list[float], shares: list[float]
) -> None:
    """One sample per bin, labelled with the bin's upper edge as the live bucket spells it."""
    for edge, share in zip((*edges, float("inf")), shares, strict=True):
        family.add_metric([*labels, _go_float(edge)], share)


def _model_state(m: MetricsSnapshot, labels: list[str]) -> Iterable[Metric]:
    ready = GaugeMetricFamily(
        "ferryman_model_ready",
        "1 when the model is loaded, warmed up and serving.",
        labels=["model", "version"],
    )
    ready.add_metric(labels, 1.0 if m.model_ready else 0.0)
    yield ready
    info = GaugeMetricFamily(
        "ferryman_model_info",
        "Always 1; labels describe the loaded model.",
        labels=["model", "version", "source"],
    )
    if m.model_version:
        info.add_metric([*labels, m.source_scheme], 1.0)
    yield info


def _latency(m: MetricsSnapshot, labels: list[str]) -> Metric:
    family = HistogramMetricFamily(
        "ferryman_request_duration_seconds",
        "Infer request latency from the request's arrival (queueing included) to the response handed "
        "to the server.",
        labels=["model", "version"],
    )
    family.add_metric(labels, _cumulative_buckets(LATENCY_BUCKETS, m.latency_counts), m.latency_sum)
    return family


def _cumulative_buckets(edges: Sequence[float], counts: Sequence[int]) -> list[tuple[str, int]]:
    """Per-bucket counts (the last one above every edge) as Prometheus' cumulative (le, count) pairs."""
    running, buckets = 0, []
    for edge, count in zip((*edges, float("inf")), counts, strict=True):
        running += count
        buckets.append((_go_float(edge), running))
    return buckets


def _add_series(family: HistogramMetricFamily, labels: list[str], counts: BucketSnapshot, index: int) -> None:
    buckets = [(_go_float(edge), total) for edge, total in counts.cumulative(index)]
    family.add_metric(labels, buckets, float(counts.sums[index]))


def _feedback(m: MetricsSnapshot) -> Iterable[Metric]:
    total = CounterMetricFamily(
        "ferryman_feedback",
        "Labels received at POST .../feedback, by result: recorded, unknown (no such id kept), expired "
        "(older than FERRYMAN_FEEDBACK_MAX_AGE_SECONDS), invalid.",
        labels=["model", "result"],
    )
    for result, count in sorted(m.feedback_results.items()):
        total.add_metric([m.model_name, result], count)
    yield total
    labelled = CounterMetricFamily(
        "ferryman_feedback_labelled_rows",
        "Prediction rows scored against a label.",
        labels=["model", "version"],
    )
    correct = CounterMetricFamily(
        "ferryman_feedback_correct_rows",
        "Labelled rows whose predicted class equals the label (classifiers); accuracy = correct / labelled.",
        labels=["model", "version"],
    )
    errors = HistogramMetricFamily(
        "ferryman_feedback_absolute_error",
        "Absolute error |prediction - label| of labelled rows (regressors).",
        labels=["model", "version"],
    )
    for version, scores in sorted(m.feedback_scores.items()):
        labelled.add_metric([m.model_name, version], scores.labelled)
        if scores.error_counts is None:
            correct.add_metric([m.model_name, version], scores.correct)
            continue
        buckets = _cumulative_buckets(ERROR_BUCKETS, scores.error_counts)
        errors.add_metric([m.model_name, version], buckets, scores.error_sum)
    yield labelled
    yield correct
    yield errors
