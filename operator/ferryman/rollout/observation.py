"""What the world looked like over one analysis window: plain numbers the handler gathered.

The handler queries Prometheus over [state.window_started_at, now] (so evidence accumulates while a
low-traffic window waits) and reads readiness from the API server; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ferryman.rollout.checks import ERRORS_NAME, LATENCY_NAME
from ferryman.rollout.evidence import NO_EVENTS, Tally


@dataclass(frozen=True, slots=True)
class TrackSample:
    """One track (canary or stable) over the window.

    `tallies` holds each count check's bad and total events (checks.COUNT_CHECKS); `requests` says
    whether there was enough traffic to judge; the p99 is shown to people, never judged;
    `latency_source` and `error_source` say where latency and errors were counted (gateway or server).
    Floats because Prometheus `increase()` extrapolates; the judge rounds them.
    """

    requests: float
    tallies: Mapping[str, Tally] = field(default_factory=dict)
    latency_p99_seconds: float | None = None
    latency_source: str | None = None
    error_source: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.requests) or self.requests < 0:
            raise ValueError(f"observation.requests: {self.requests!r}; counts must be finite and >= 0")
        p99 = self.latency_p99_seconds
        if p99 is not None and (not math.isfinite(p99) or p99 < 0):
            raise ValueError(f"observation.latency_p99_seconds: {p99!r}; pass None when there is no data")

    @classmethod
    def counted(
        cls, requests: float, errors: float, *, slow: float | None = None, p99: float | None = None
    ) -> TrackSample:
        """A sample from request, 5xx and slow-request counts (slow None: no latency data)."""
        tallies = {ERRORS_NAME: Tally(min(errors, requests), requests)}
        if slow is not None:
            tallies[LATENCY_NAME] = Tally(min(slow, requests), requests)
        return cls(requests, tallies, p99)

    @property
    def request_count(self) -> int:
        return round(self.requests)

    def tally(self, check: str) -> Tally:
        return self.tallies.get(check, NO_EVENTS)

    def source_of(self, check: str) -> str | None:
        """Where a count check's numbers were read: "gateway" (what users saw) or "server" (the pods)."""
        return {ERRORS_NAME: self.error_source, LATENCY_NAME: self.latency_source}.get(check)


@dataclass(frozen=True, slots=True)
class Observation:
    """Canary and stable measured in the same window, plus readiness facts.

    For blue-green the canary fields describe the preview; for shadow, the mirrored requests.
    `stable_serving_version` is the version the stable Deployment runs with all replicas Ready
    (it confirms a promotion). `error` says why metrics could not be read (Prometheus down):
    such an observation carries readiness only and counts toward the analysis error limit.
    """

    window_start: datetime
    window_end: datetime
    canary: TrackSample
    stable: TrackSample
    canary_ready: bool
    custom: Mapping[str, float | None] = field(default_factory=dict)
    stable_serving_version: str | None = None
    error: str | None = None

    @property
    def window_seconds(self) -> float:
        return max(0.0, (self.window_end - self.window_start).total_seconds())
