"""The one list of what a rollout checks, where each number comes from, and when it matters.

A *count check* counts bad events among a track's requests (5xx answers; requests slower than the
latency limit) and is judged by the sequential evidence in `evidence.py`. Adding one is one entry in
`COUNT_CHECKS`: its name (status, Events), how it reads the metrics (`source`), its limit on the
bad share, and whether a regression must break the limit *and* be worse than stable (`Rule.BOTH`)
or either (`Rule.EITHER`). The Prometheus module reads `source`; the judge reads the rest.
Custom metrics (`analysis.metrics`) are plain bounds on a value and are listed by the user.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ferryman.rollout.formatting import format_latency, format_percent
from ferryman.rollout.plan import AnalysisPolicy

# p99 <= limit  <=>  at most 1% of requests are slower than the limit.
LATENCY_QUANTILE = 0.99


class Rule(enum.Enum):
    """When a bad share that is significantly above stable's is also material."""

    EITHER = "above the limit, or above maxErrorRatio times stable's share"
    BOTH = "above the limit and above maxErrorRatio times stable's share"


@dataclass(frozen=True, slots=True)
class CounterSource:
    """bad = the counter's increase with `bad_matcher` added; total = its increase."""

    metric: str
    bad_matcher: str


@dataclass(frozen=True, slots=True)
class HistogramSource:
    """bad = requests above the latency limit's bucket; total = the histogram's count.

    Where traffic passes a Gateway, the Prometheus module reads the data plane's own per-backend
    histogram instead (settings): it times what users see, queueing in front of the pod included.
    """

    metric: str


Source = CounterSource | HistogramSource


@dataclass(frozen=True, slots=True)
class CountCheck:
    name: str
    rule: Rule
    source: Source

    def limit(self, policy: AnalysisPolicy) -> float | None:
        """The largest acceptable bad share, or None when the check is off."""
        if self.name == ERRORS_NAME:
            return policy.max_error_rate
        if policy.max_latency_p99_seconds is None:
            return None
        return 1.0 - LATENCY_QUANTILE

    def floor(self, policy: AnalysisPolicy) -> float:
        """Below this share a difference from stable does not matter (stable with no errors at all)."""
        limit = self.limit(policy) or 0.0
        return limit * policy.ratio_floor_fraction

    def describe(self, policy: AnalysisPolicy, share: float | None) -> str:
        """'error rate 4.1%' / '2.5% of requests slower than 500ms'."""
        shown = "no data" if share is None else format_percent(share)
        if self.name == ERRORS_NAME:
            return f"error rate {shown}"
        limit = policy.max_latency_p99_seconds or 0.0
        return f"{shown} of requests slower than {format_latency(limit)}"

    def describe_limit(self, policy: AnalysisPolicy) -> str:
        if self.name == ERRORS_NAME:
            return f"limit {format_percent(policy.max_error_rate)}"
        limit = policy.max_latency_p99_seconds or 0.0
        return f"p99 limit {format_latency(limit)}, i.e. at most 1% slower"


ERRORS_NAME = "errorRate"
LATENCY_NAME = "latency"

ERRORS = CountCheck(ERRORS_NAME, Rule.EITHER, CounterSource("ferryman_requests_total", 'code=~"5.."'))
LATENCY = CountCheck(LATENCY_NAME, Rule.BOTH, HistogramSource("ferryman_request_duration_seconds"))
COUNT_CHECKS: tuple[CountCheck, ...] = (ERRORS, LATENCY)


def active_checks(policy: AnalysisPolicy) -> tuple[CountCheck, ...]:
    return tuple(check for check in COUNT_CHECKS if check.limit(policy) is not None)
