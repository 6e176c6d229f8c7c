"""The only module that asks Prometheus anything: canary and stable measured over the same window.

What to ask comes from `ferryman.rollout.checks` (one entry per count check); this module turns each
check's source into PromQL, reads the answers, and never raises for an unreachable Prometheus: the
observation carries the error and the state machine counts it (analysis error limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ferryman.api import CustomMetric
from ferryman.builders.metric_series import series_selector
from ferryman.rollout import COUNT_CHECKS, AnalysisPolicy, Tally, TrackSample
from ferryman.rollout.checks import LATENCY_QUANTILE, CounterSource, HistogramSource
from ferryman.rollout.histogram import Buckets, count_above, quantile

QUERY_TIMEOUT_SECONDS = 5.0


class PrometheusError(RuntimeError):
    """Prometheus could not be asked (down, timeout, bad answer); the message says which."""


class QueryRefused(PrometheusError):
    """Prometheus answered that the query itself is wrong (400 bad_data, e.g. a PromQL syntax error):
    asking again cannot help, the query must change. The message is Prometheus' own."""


@dataclass(frozen=True, slots=True)
class GatewayLatency:
    """The data plane's per-backend latency histogram: `metric` and a label matcher per backend Service.

    `service_matcher` is a template with {namespace} and {service} (settings.gateway_latency_*).
    """

    metric: str
    service_matcher: str

    def selector(self, namespace: str, service: str) -> str:
        # Not str.format: a PromQL regex such as x{2} in the matcher raised IndexError on every step.
        return self.service_matcher.replace("{namespace}", namespace).replace("{service}", service)


@dataclass(frozen=True, slots=True)
class TrackQuery:
    namespace: str
    name: str
    track: str
    service: str  # the track's Service, as the gateway sees it


class PrometheusSource:
    """Instant queries against the Prometheus HTTP API over one reused connection pool."""

    def __init__(self, base_url: str, gateway: GatewayLatency | None = None) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=QUERY_TIMEOUT_SECONDS)
        self._gateway = gateway

    def close(self) -> None:
        self._client.close()

    def vector(self, promql: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        """The query's series as (labels, value); NaN values are dropped."""
        try:
            response = self._client.get("/api/v1/query", params={"query": promql, "time": at.timestamp()})
            if response.status_code == 400:
                raise QueryRefused(_refusal(response))
            response.raise_for_status()
            result = response.json()["data"]["result"]
            return finite_series(result)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise PrometheusError(f"Prometheus query failed: {type(error).__name__}: {error}") from error

    def value(self, promql: str, at: datetime) -> float | None:
        """The single value of a query, None when it has no data."""
        series = self.vector(promql, at)
        return series[0][1] if series else None

    def track_sample(
        self, query: TrackQuery, policy: AnalysisPolicy, start: datetime, end: datetime
    ) -> TrackSample:
        """Every count check's tally for one track between start and end (raises PrometheusError)."""
        window = f"[{max(math.ceil((end - start).total_seconds()), 1)}s]"
        every = series_selector(query.namespace, query.name, query.track)
        requests = self.value(f"sum(increase(ferryman_requests_total{{{every}}}{window}))", end) or 0.0
        tallies: dict[str, Tally] = {}
        p99, latency_source, error_source = None, None, None
        for check in COUNT_CHECKS:
            limit = check.limit(policy)
            if limit is None:
                continue
            source = check.source
            if isinstance(source, CounterSource):
                tallies[check.name], error_source = self._counted(source, query, every, window, end, requests)
            elif isinstance(source, HistogramSource):
                buckets, latency_source = self._latency_buckets(source, query, every, window, end)
                slow, timed, _bound = count_above(buckets, policy.max_latency_p99_seconds or 0.0)
                tallies[check.name] = Tally(slow, timed)
                p99 = quantile(buckets, LATENCY_QUANTILE)
        return TrackSample(requests, tallies, p99, latency_source, error_source)

    def _counted(
        self,
        source: CounterSource,
        query: TrackQuery,
        every: str,
        window: str,
        end: datetime,
        requests: float,
    ) -> tuple[Tally, str]:
        """Bad answers among the track's requests as the gateway saw them (its own 502/503s for a backend
        with no live pod included, which the pods never count), else as the pods counted them."""
        if self._gateway is not None:
            matcher = self._gateway.selector(query.namespace, query.service)
            count = f"{self._gateway.metric}_count"
            total = self.value(f"sum(increase({count}{{{matcher}}}{window}))", end)
            if total:
                bad = self.value(f"sum(increase({count}{{{matcher},{source.bad_matcher}}}{window}))", end)
                return Tally(min(bad or 0.0, total), total), "gateway"
        bad = self.value(f"sum(increase({source.metric}{{{every},{source.bad_matcher}}}{window}))", end)
        return Tally(min(bad or 0.0, requests), requests), "server"

    def _latency_buckets(
        self, source: HistogramSource, query: TrackQuery, every: str, window: str, end: datetime
    ) -> tuple[Buckets, str]:
        """The gateway's histogram for the track's Service when it has one, else the server's."""
        if self._gateway is not None:
            matcher = self._gateway.selector(query.namespace, query.service)
            buckets = self._buckets(self._gateway.metric, matcher, window, end)
            if buckets:
                return buckets, "gateway"
        return self._buckets(source.metric, every, window, end), "server"

    def _buckets(self, metric: str, matcher: str, window: str, end: datetime) -> Buckets:
        promql = f"sum by (le) (increase({metric}_bucket{{{matcher}}}{window}))"
        return [(float(labels["le"]), value) for labels, value in self.vector(promql, end) if "le" in labels]

    def custom_values(
        self, metrics: Sequence[CustomMetric], namespace: str, name: str, at: datetime
    ) -> dict[str, float | None]:
        """Each custom metric's canary value; QueryRefused names the metric whose query Prometheus refused."""
        values = {}
        for metric in metrics:
            try:
                values[metric.name] = self.value(custom_query(metric, namespace, name, "canary"), at)
            except QueryRefused as refused:
                raise QueryRefused(f"{metric.name!r}: Prometheus refused its query: {refused}") from None
        return values


def _refusal(response: httpx.Response) -> str:
    """Prometheus' own reason for a 400 ("parse error at char 30: ..."), else the status line."""
    try:
        return str(response.json()["error"])[:500]
    except (ValueError, KeyError, TypeError):
        return f"HTTP 400 {response.reason_phrase}"


def finite_series(result: list[dict[str, Any]]) -> list[tuple[dict[str, str], float]]:
    """An instant vector's (labels, value) pairs; NaN and infinite values are dropped. Anything else
    (a scalar result, a value that is not a number, labels that are not an object) raises, and the
    caller reports it as a failed query."""
    series = []
    for entry in result:
        raw = entry["value"]
        number = float(raw[1]) if isinstance(raw, list) and len(raw) == 2 else math.nan
        labels = entry.get("metric") or {}
        if not isinstance(labels, dict):
            raise TypeError(f"series labels are {type(labels).__name__}, not an object")
        if math.isfinite(number):
            series.append((labels, number))
    return series


def custom_query(metric: CustomMetric, namespace: str, name: str, track: str) -> str:
    return (
        metric.query.replace("{{namespace}}", namespace).replace("{{name}}", name).replace("{{track}}", track)
    )


def drift_window_query(namespace: str, name: str, version: str, window_seconds: int) -> str:
    """One query for every feature and the prediction of the stable version (ferryman.drift.window reads it):
    the window's bucket increases, the reference proportions, the reference sample count, readiness and
    the delayed labels' counts, each tagged with a `source` label so one answer carries all four."""
    every = series_selector(namespace, name, "stable", f',version="{version}"')
    window = f"[{max(window_seconds, 1)}s]"
    buckets = "ferryman_feature_value_bucket|ferryman_prediction_bucket"
    live = f'sum by (feature, le) (increase({{__name__=~"{buckets}",{every}}}{window}))'
    reference = (
        'max by (feature, le) ({__name__=~"ferryman_feature_reference_proportion|'
        f'ferryman_prediction_reference_proportion",{every}}})'
    )
    parts = {
        "live": live,
        "reference": reference,
        "samples": f"max(ferryman_reference_samples{{{every}}})",
        "ready": f"max(ferryman_model_ready{{{every}}})",
        "labelled": f"sum(increase(ferryman_feedback_labelled_rows_total{{{every}}}{window}))",
        "correct": f"sum(increase(ferryman_feedback_correct_rows_total{{{every}}}{window}))",
    }
    return " or ".join(
        f'label_replace({query}, "source", "{source}", "", "")' for source, query in parts.items()
    )
