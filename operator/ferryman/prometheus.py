"""The only module that asks Prometheus anything: canary and stable measured over the same window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import httpx
import kopf

from ferryman.api import CustomMetric
from ferryman.rollout import TrackSample

QUERY_TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 5.0


def _selector(namespace: str, name: str, track: str, extra: str = "") -> str:
    # Target labels come from the pod labels through the scrape config (docs/metrics.md).
    return f'namespace="{namespace}",model_deployment="{name}",track="{track}"{extra}'


def track_queries(namespace: str, name: str, track: str, window_seconds: int) -> dict[str, str]:
    """PromQL for one track over the window: requests, 5xx errors, p99 latency."""
    window = f"[{max(window_seconds, 1)}s]"
    every = _selector(namespace, name, track)
    errors = _selector(namespace, name, track, ',code=~"5.."')
    return {
        "requests": f"sum(increase(ferryman_requests_total{{{every}}}{window}))",
        "errors": f"sum(increase(ferryman_requests_total{{{errors}}}{window}))",
        "p99": (
            "histogram_quantile(0.99, sum by (le) "
            f"(increase(ferryman_request_duration_seconds_bucket{{{every}}}{window})))"
        ),
    }


def custom_query(metric: CustomMetric, namespace: str, name: str, track: str) -> str:
    return (
        metric.query.replace("{{namespace}}", namespace).replace("{{name}}", name).replace("{{track}}", track)
    )


class PrometheusSource:
    """Instant queries against the Prometheus HTTP API; failures become Kopf retries."""

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=QUERY_TIMEOUT_SECONDS)

    def value(self, promql: str, at: datetime) -> float | None:
        """The single value of a query, None when it has no data (no series, or NaN)."""
        try:
            response = self._client.get("/api/v1/query", params={"query": promql, "time": at.timestamp()})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise kopf.TemporaryError(
                f"Prometheus query failed: {error}", delay=RETRY_DELAY_SECONDS
            ) from error
        result: Sequence[dict[str, object]] = body.get("data", {}).get("result", [])
        if not result:
            return None
        raw = result[0].get("value")
        number = float(raw[1]) if isinstance(raw, list) and len(raw) == 2 else math.nan
        return number if math.isfinite(number) else None

    def track_sample(
        self, namespace: str, name: str, track: str, start: datetime, end: datetime
    ) -> TrackSample:
        """Requests, errors and p99 of one track between start and end."""
        window = math.ceil((end - start).total_seconds())
        queries = track_queries(namespace, name, track, window)
        return TrackSample(
            requests=self.value(queries["requests"], end) or 0.0,
            errors=self.value(queries["errors"], end) or 0.0,
            latency_p99_seconds=self.value(queries["p99"], end),
        )

    def custom_values(
        self, metrics: Sequence[CustomMetric], namespace: str, name: str, at: datetime
    ) -> dict[str, float | None]:
        return {m.name: self.value(custom_query(m, namespace, name, "canary"), at) for m in metrics}
