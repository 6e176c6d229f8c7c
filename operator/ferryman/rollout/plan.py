"""What the user asked for: the rollout plan and the analysis policy, as plain frozen data.

The handler maps the ModelDeployment spec onto these; the state machine never sees the CRD models,
so it stays pure and testable with thousands of generated plans.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class PlanError(ValueError):
    """A plan or policy value is out of range; the message names the field and the fix."""


class StrategyKind(enum.StrEnum):
    """How the candidate version meets users (the key under `spec.strategy`)."""

    CANARY = "canary"
    BLUE_GREEN = "blueGreen"
    SHADOW = "shadow"
    AB_TEST = "abTest"


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

DEFAULT_STEPS: tuple[Step, ...] = (WeightStep(5), WeightStep(25), WeightStep(50), WeightStep(100))


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """Timing and traffic shape of one rollout.

    `stage_duration_seconds` is the single analysis stage of the non-canary kinds: blue-green's
    `autoPromoteAfter`, shadow's and A/B's `duration`. `auto_promote` applies to those kinds only;
    a canary always promotes after its last step passes.
    """

    strategy: StrategyKind = StrategyKind.CANARY
    steps: tuple[Step, ...] = DEFAULT_STEPS
    interval_seconds: float = 30.0
    progress_deadline_seconds: float = 600.0
    no_traffic_deadline_seconds: float = 1800.0
    auto_promote: bool = False
    stage_duration_seconds: float = 0.0
    mirror_percent: int = 100

    def __post_init__(self) -> None:
        _require_finite("strategy.interval", self.interval_seconds, 0.0, strict=True)
        _require_finite("strategy.progressDeadline", self.progress_deadline_seconds, 0.0, strict=True)
        _require_finite("strategy.noTrafficDeadline", self.no_traffic_deadline_seconds, 0.0, strict=True)
        _require_finite("strategy.duration", self.stage_duration_seconds, 0.0)
        if not self.steps:
            raise PlanError("strategy.canary.steps: empty; give at least one step, e.g. [{weight: 100}]")
        if isinstance(self.mirror_percent, bool) or not 0 <= self.mirror_percent <= 100:
            raise PlanError(
                f"strategy.shadow.mirrorPercent: {self.mirror_percent!r} is outside 0..100; use a percentage"
            )


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
    """When a canary window passes or fails (docs/rollouts.md, "The judge").

    Errors fail only when the canary is significantly worse than stable (one-sided Fisher exact test
    at `significance`) AND the difference matters: above `max_error_rate` or above `max_error_ratio`
    times stable's rate. Without comparable stable traffic, the canary must be significantly above
    `max_error_rate` (exact binomial test).
    """

    max_error_rate: float = 0.01
    max_error_ratio: float = 1.5
    max_latency_p99_seconds: float | None = 0.5
    latency_margin: float = 0.2
    min_requests: int = 100
    failure_limit: int = 2
    significance: float = 0.01
    custom_checks: tuple[CustomCheck, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_error_rate) and 0.0 <= self.max_error_rate <= 1.0):
            raise PlanError(f"analysis.maxErrorRate: {self.max_error_rate!r}; use a fraction in 0..1")
        _require_finite("analysis.maxErrorRatio", self.max_error_ratio, 1.0)
        if self.max_latency_p99_seconds is not None:
            _require_finite("analysis.maxLatencyP99", self.max_latency_p99_seconds, 0.0, strict=True)
        _require_finite("analysis.latencyMargin", self.latency_margin, 0.0)
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
