"""What the world looked like over one analysis window: plain numbers the handler gathered.

The handler queries Prometheus over [state.window_started_at, now] (so evidence accumulates while a
low-traffic step waits) and reads readiness from the API server; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TrackSample:
    """Counts for one track (canary or stable) in the window.

    Floats because Prometheus `increase()` extrapolates; the judge rounds them.
    """

    requests: float
    errors: float
    latency_p99_seconds: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("requests", self.requests), ("errors", self.errors)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"observation.{name}: {value!r}; counts must be finite and >= 0")
        p99 = self.latency_p99_seconds
        if p99 is not None and (not math.isfinite(p99) or p99 < 0):
            raise ValueError(f"observation.latency_p99_seconds: {p99!r}; pass None when there is no data")

    @property
    def request_count(self) -> int:
        return round(self.requests)

    @property
    def error_count(self) -> int:
        # increase() on two counters can extrapolate errors a hair above requests.
        return min(round(self.errors), self.request_count)


@dataclass(frozen=True, slots=True)
class Observation:
    """Canary and stable measured in the same window, plus readiness facts.

    For blue-green the canary fields describe the preview; for shadow, the mirrored requests.
    `stable_serving_version` is the version the stable Deployment runs with all replicas Ready
    (it confirms a promotion).
    """

    window_start: datetime
    window_end: datetime
    canary: TrackSample
    stable: TrackSample
    canary_ready: bool
    custom: Mapping[str, float | None] = field(default_factory=dict)
    stable_serving_version: str | None = None

    @property
    def window_seconds(self) -> float:
        return max(0.0, (self.window_end - self.window_start).total_seconds())
