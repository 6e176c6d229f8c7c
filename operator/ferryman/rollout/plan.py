"""What the user asked for: the rollout plan and the analysis policy, as plain frozen data.

The handler maps the ModelDeployment spec onto these; the state machine never sees the CRD models,
so it stays pure and testable with thousands of generated plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ferryman.api.durations import parse_duration
from ferryman.api.vocabulary import (
    DEFAULT_ANALYSIS_ERROR_LIMIT,
    DEFAULT_CANARY_SCALE_DOWN_DELAY,
    DEFAULT_CANARY_WEIGHTS,
    DEFAULT_FAILURE_LIMIT,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_ERROR_RATE,
    DEFAULT_MAX_LATENCY_P99,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_NO_TRAFFIC_DEADLINE,
    DEFAULT_PROGRESS_DEADLINE,
    StrategyKind,
)


class PlanError(ValueError):
    """A plan or policy value is out of range; the message names the field and the fix."""


def default_seconds(duration: str) -> float:
    return parse_duration(duration).total_seconds()


def _require_finite(field_path: str, value: float, minimum: float, *, strict: bool = False) -> None:
    too_small = value <= minimum if strict else value < minimum
    if not math.isfinite(value) or too_small:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise PlanError(f"{field_path}: {value!r} is invalid; use a number {bound}")


@dataclass(frozen=True, slots=True)
class WeightStep:
    """Send `weight` percent of user traffic to the canary, then analyse."""

    weight: int

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not 0 <= self.weight <= 100:
            raise PlanError(
                f"strategy.canary.steps[].weight: {self.weight!r} is outside 0..100; use a percentage"
            )


@dataclass(frozen=True, slots=True)
class PauseStep:
    """Hold the current weight; `duration_seconds=None` waits for `ferryman.dev/action: resume`."""

    duration_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.duration_seconds is not None:
            _require_finite("strategy.canary.steps[].pause.duration", self.duration_seconds, 0.0)


Step = WeightStep | PauseStep

DEFAULT_STEPS: tuple[Step, ...] = tuple(WeightStep(weight) for weight in DEFAULT_CANARY_WEIGHTS)


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """Timing and traffic shape of one rollout.

    `stage_duration_seconds` is the single analysis stage of the non-canary kinds: blue-green's
    `autoPromoteAfter`, shadow's and A/B's `duration`. `auto_promote` applies to those kinds only;
    a canary always promotes after its last step passes. `canary_scale_down_delay_seconds`: how long
    the canary's pods stay after its traffic left (the data plane may still send it requests).
    """

    strategy: StrategyKind = StrategyKind.CANARY
    steps: tuple[Step, ...] = DEFAULT_STEPS
    interval_seconds: float = default_seconds(DEFAULT_INTERVAL)
    progress_deadline_seconds: float = default_seconds(DEFAULT_PROGRESS_DEADLINE)
    no_traffic_deadline_seconds: float = default_seconds(DEFAULT_NO_TRAFFIC_DEADLINE)
    auto_promote: bool = False
    stage_duration_seconds: float = 0.0
    mirror_percent: int = 100
    canary_scale_down_delay_seconds: float = default_seconds(DEFAULT_CANARY_SCALE_DOWN_DELAY)

    def __post_init__(self) -> None:
        _require_finite("strategy.interval", self.interval_seconds, 0.0, strict=True)
        _require_finite("strategy.progressDeadline", self.progress_deadline_seconds, 0.0, strict=True)
        _require_finite("strategy.noTrafficDeadline", self.no_traffic_deadline_seconds, 0.0, strict=True)
        _require_finite("strategy.duration", self.stage_duration_seconds, 0.0)
        _require_finite("canaryScaleDownDelay", self.canary_scale_down_delay_seconds, 0.0)
        if not self.steps:
            raise PlanError("strategy.canary.steps: empty; give at least one step, e.g. [{weight: 100}]")
        if isinstance(self.mirror_percent, bool) or not 0 <= self.mirror_percent <= 100:
            raise PlanError(
                f"strategy.shadow.mirrorPercent: {self.mirror_percent!r} is outside 0..100; use a percentage"
            )

    @property
    def evidence_step_index(self) -> int | None:
        """The last step that splits traffic with stable (0 < weight < 100): the rollout leaves it only
        once a regression is ruled out (judge.evidence_gap); None when no step compares."""
        splits = [i for i, s in enumerate(self.steps) if isinstance(s, WeightStep) and 0 < s.weight < 100]
        return splits[-1] if splits else None


@dataclass(frozen=True, slots=True)
class CustomCheck:
    """A user metric (one PromQL value per window) that must stay within [min_value, max_value]."""

    name: str
    min_value: float | None = None
    max_value: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise PlanError("analysis.metrics[].name: empty; give the metric a name")
        if self.min_value is None and self.max_value is None:
            raise PlanError(f"analysis.metrics[{self.name}]: no bound; set min, max or both")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise PlanError(
                f"analysis.metrics[{self.name}]: min {self.min_value:g} > max {self.max_value:g}; swap them"
            )

    def allows(self, value: float) -> bool:
        """True when value lies within the bounds (inclusive)."""
        above_min = self.min_value is None or value >= self.min_value
        below_max = self.max_value is None or value <= self.max_value
        return above_min and below_max and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """How the canary is judged (docs/rollouts.md, "The judge"; rollout/judge.py has the rules).

    The first five are the CRD's `analysis` fields; the rest are knobs of the judge with tested
    defaults: `significance` bounds the chance of rolling back a healthy canary over the whole
    rollout; `max_error_ratio` is how much worse than stable matters; stable's share counts as at
    least `ratio_floor_fraction` of the limit; before full traffic a regression of `detect_ratio`
    times stable (at least `detect_floor_fraction` of the error limit) must be ruled out with miss
    chance `miss_rate`; `analysis_error_limit` consecutive failed metric reads
    end the rollout.
    """

    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_latency_p99_seconds: float | None = default_seconds(DEFAULT_MAX_LATENCY_P99)
    min_requests: int = DEFAULT_MIN_REQUESTS
    failure_limit: int = DEFAULT_FAILURE_LIMIT
    custom_checks: tuple[CustomCheck, ...] = ()
    significance: float = 0.005
    max_error_ratio: float = 1.5
    ratio_floor_fraction: float = 0.1
    detect_ratio: float = 1.5
    detect_floor_fraction: float = 0.5
    miss_rate: float = 0.05
    analysis_error_limit: int = DEFAULT_ANALYSIS_ERROR_LIMIT

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_error_rate) and 0.0 <= self.max_error_rate <= 1.0):
            raise PlanError(f"analysis.maxErrorRate: {self.max_error_rate!r}; use a fraction in 0..1")
        _require_finite("analysis.maxErrorRatio", self.max_error_ratio, 1.0)
        if self.max_latency_p99_seconds is not None:
            _require_finite("analysis.maxLatencyP99", self.max_latency_p99_seconds, 0.0, strict=True)
        _require_finite("analysis.ratioFloorFraction", self.ratio_floor_fraction, 0.0)
        _require_finite("analysis.detectRatio", self.detect_ratio, 1.0, strict=True)
        _require_finite("analysis.detectFloorFraction", self.detect_floor_fraction, 0.0)
        if not (math.isfinite(self.miss_rate) and 0.0 < self.miss_rate < 0.5):
            raise PlanError(f"analysis.missRate: {self.miss_rate!r}; use a probability such as 0.05")
        if isinstance(self.analysis_error_limit, bool) or self.analysis_error_limit < 1:
            raise PlanError(
                f"analysis.analysisErrorLimit: {self.analysis_error_limit!r}; use an integer >= 1"
            )
        if isinstance(self.min_requests, bool) or self.min_requests < 1:
            raise PlanError(f"analysis.minRequests: {self.min_requests!r}; use an integer >= 1")
        if isinstance(self.failure_limit, bool) or self.failure_limit < 1:
            raise PlanError(f"analysis.failureLimit: {self.failure_limit!r}; use an integer >= 1")
        if not (math.isfinite(self.significance) and 0.0 < self.significance < 0.5):
            raise PlanError(f"analysis.significance: {self.significance!r}; use a p-value such as 0.01")
        names = [check.name for check in self.custom_checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise PlanError(f"analysis.metrics: duplicate names {duplicates}; make each name unique")
