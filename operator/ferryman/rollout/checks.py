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
from collections.abc import Callable
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
    """One count check: where its numbers come from, its limit, and how people read it.

    `limit_of(policy)`: the largest acceptable bad share, None when the user turned the check off;
    `shown(policy, share)`: the measured share in words; `limit_text(policy)`: the limit in words.
    """

    name: str
    rule: Rule
    source: Source
    limit_of: Callable[[AnalysisPolicy], float | None]
    shown: Callable[[AnalysisPolicy, str], str]
    limit_text: Callable[[AnalysisPolicy], str]

    def limit(self, policy: AnalysisPolicy) -> float | None:
        return self.limit_of(policy)

    def floor(self, policy: AnalysisPolicy) -> float:
        """Below this share a difference from stable does not matter (stable with no errors at all)."""
        return (self.limit(policy) or 0.0) * policy.ratio_floor_fraction

    def describe(self, policy: AnalysisPolicy, share: float | None) -> str:
        """'error rate 4.1%' / '2.5% of requests slower than 500ms'."""
        return self.shown(policy, "no data" if share is None else format_percent(share))

    def describe_limit(self, policy: AnalysisPolicy) -> str:
        return self.limit_text(policy)


def _latency_limit(policy: AnalysisPolicy) -> float | None:
    return None if policy.max_latency_p99_seconds is None else 1.0 - LATENCY_QUANTILE


def _slow(policy: AnalysisPolicy) -> str:
    return format_latency(policy.max_latency_p99_seconds or 0.0)


ERRORS_NAME = "errorRate"
LATENCY_NAME = "latency"

ERRORS = CountCheck(
    ERRORS_NAME,
    Rule.EITHER,
    CounterSource("ferryman_requests_total", 'code=~"5.."'),
    limit_of=lambda policy: policy.max_error_rate,
    shown=lambda _policy, share: f"error rate {share}",
    limit_text=lambda policy: f"limit {format_percent(policy.max_error_rate)}",
)
LATENCY = CountCheck(
    LATENCY_NAME,
    Rule.BOTH,
    HistogramSource("ferryman_request_duration_seconds"),
    limit_of=_latency_limit,
    shown=lambda policy, share: f"{share} of requests slower than {_slow(policy)}",
    limit_text=lambda policy: f"p99 limit {_slow(policy)}, i.e. at most 1% slower",
)
COUNT_CHECKS: tuple[CountCheck, ...] = (ERRORS, LATENCY)


def active_checks(policy: AnalysisPolicy) -> tuple[CountCheck, ...]:
    return tuple(check for check in COUNT_CHECKS if check.limit(policy) is not None)
