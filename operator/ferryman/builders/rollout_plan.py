"""Map a ModelDeployment's strategy onto the rollout state machine's plain plan and policy."""

from __future__ import annotations

from typing import Any

from ferryman.api import AnalysisSpec, ModelDeployment, StrategySpec, parse_duration
from ferryman.config import Settings
from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    PauseStep,
    RolloutPlan,
    Step,
    StrategyKind,
    WeightStep,
)


def _seconds(text: str) -> float:
    return parse_duration(text).total_seconds()


def build_rollout_plan(strategy: StrategySpec, scale_down_delay_seconds: float) -> RolloutPlan:
    """Timing and traffic shape of the strategy the user chose."""
    kind = StrategyKind(strategy.kind)
    if strategy.canary is not None:
        canary = strategy.canary
        steps: tuple[Step, ...] = tuple(
            WeightStep(step.weight)
            if step.weight is not None
            else PauseStep(_seconds(step.pause.duration) if step.pause and step.pause.duration else None)
            for step in canary.steps
        )
        return RolloutPlan(
            strategy=kind,
            steps=steps,
            interval_seconds=_seconds(canary.interval),
            progress_deadline_seconds=_seconds(canary.progress_deadline),
            no_traffic_deadline_seconds=_seconds(canary.analysis.no_traffic_deadline),
            canary_scale_down_delay_seconds=scale_down_delay_seconds,
        )
    chosen = strategy.blue_green or strategy.shadow or strategy.ab_test
    assert chosen is not None  # StrategySpec guarantees exactly one strategy
    analysis = chosen.analysis or AnalysisSpec()
    stage = _stage_seconds(strategy)
    return RolloutPlan(
        strategy=kind,
        interval_seconds=_seconds(chosen.interval),
        progress_deadline_seconds=_seconds(chosen.progress_deadline),
        no_traffic_deadline_seconds=_seconds(analysis.no_traffic_deadline),
        auto_promote=chosen.auto_promote,
        stage_duration_seconds=stage,
        mirror_percent=strategy.shadow.mirror_percent if strategy.shadow else 100,
        canary_scale_down_delay_seconds=scale_down_delay_seconds,
    )


def _stage_seconds(strategy: StrategySpec) -> float:
    """Blue-green waits autoPromoteAfter; shadow and A/B run for their duration."""
    if strategy.blue_green is not None:
        after = strategy.blue_green.auto_promote_after
        return _seconds(after) if after else 0.0
    if strategy.shadow is not None:
        return _seconds(strategy.shadow.duration)
    if strategy.ab_test is not None and strategy.ab_test.duration:
        return _seconds(strategy.ab_test.duration)
    return 0.0


def analysis_spec(strategy: StrategySpec) -> AnalysisSpec:
    """The analysis the user set for the chosen strategy, or the defaults."""
    if strategy.canary is not None:
        return strategy.canary.analysis
    chosen = strategy.blue_green or strategy.shadow or strategy.ab_test
    return (chosen.analysis if chosen else None) or AnalysisSpec()


def build_analysis_policy(spec: AnalysisSpec) -> AnalysisPolicy:
    """Thresholds of the judge; the statistical knobs keep their tested defaults."""
    return AnalysisPolicy(
        max_error_rate=spec.max_error_rate,
        max_latency_p99_seconds=_seconds(spec.max_latency_p99),
        min_requests=spec.min_requests,
        failure_limit=spec.failure_limit,
        custom_checks=tuple(CustomCheck(m.name, min_value=m.min, max_value=m.max) for m in spec.metrics),
    )


RolloutInputs = tuple[RolloutPlan, AnalysisPolicy]
"""A strategy's plan (steps, timings) and analysis policy (checks, limits)."""


def rollout_inputs(md: ModelDeployment, settings: Settings) -> RolloutInputs | None:
    """Plan and policy of md's strategy, or None when it has none (new versions replace in place)."""
    strategy = md.spec.strategy
    if strategy is None:
        return None
    plan = build_rollout_plan(strategy, settings.scale_down_delay_seconds)
    return plan, build_analysis_policy(analysis_spec(strategy))


def fallback_inputs(status: dict[str, Any], settings: Settings) -> RolloutInputs:
    """Plan and policy for a rollout whose spec can no longer be read: enough to stop it and retire
    its canary (the strategy it ran with, default timings)."""
    kind = StrategyKind(status.get("strategy") or StrategyKind.CANARY)
    plan = RolloutPlan(strategy=kind, canary_scale_down_delay_seconds=settings.scale_down_delay_seconds)
    return plan, AnalysisPolicy()
