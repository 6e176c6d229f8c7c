"""The canary strategy: user traffic moves through weight and pause steps, judged every interval."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ferryman.rollout.decision import Decision, Event, EventType, decide
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, PauseStep, RolloutPlan, WeightStep
from ferryman.rollout.state import PauseReason, Phase, RolloutState
from ferryman.rollout.transitions import (
    MIN_REQUEUE_SECONDS,
    analyse_window,
    begin_promotion,
    hold,
    poll_seconds,
    seconds_since,
)


def progress_canary(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
    ready: bool,
) -> Decision:
    """One Progressing reconcile of a canary (readiness deadline already checked by the caller)."""
    if state.current_step_index >= len(plan.steps):  # the spec was edited mid-rollout
        last = len(plan.steps) - 1
        text = f"strategy.canary.steps now has {len(plan.steps)} steps; continuing at step {last + 1}"
        moved = replace(state, current_step_index=last, message=text)
        return decide(moved, plan, _normal("StepsChanged", text), poll_seconds(plan))
    step = plan.steps[state.current_step_index]
    if isinstance(step, PauseStep):
        return _pause_step(state, plan, policy, step, observation, now, ready)
    if state.canary_weight != step.weight:
        if ready:
            return shift_weight(state, plan, step.weight, now, prefix="")
        waiting = (
            f"waiting for canary {state.canary_version} to become Ready before sending it {step.weight}%"
        )
        return hold(state, plan, poll_seconds(plan), waiting)

    def after_pass(passed: RolloutState) -> Decision:
        return advance(passed, plan, now, ready, f"analysis passed ({passed.message})")

    return analyse_window(state, plan, policy, observation, now, deadline_applies=True, on_pass=after_pass)


def _step_label(state: RolloutState, plan: RolloutPlan) -> str:
    return f"step {state.current_step_index + 1} of {len(plan.steps)}"


def shift_weight(state: RolloutState, plan: RolloutPlan, weight: int, now: datetime, prefix: str) -> Decision:
    """Set the canary's share of user traffic and open a fresh analysis window."""
    old = state.canary_weight
    first_traffic = state.traffic_started_at is None and weight > 0
    shifted = replace(
        state,
        canary_weight=weight,
        window_started_at=now,
        no_traffic_seconds=0.0,
        traffic_started_at=now if first_traffic else state.traffic_started_at,
        last_verdict=None,
        message=f"canary {state.canary_version} at {weight}% ({_step_label(state, plan)})",
    )
    text = f"{prefix}canary {state.canary_version} weight {old}% -> {weight}% ({_step_label(state, plan)})"
    return decide(shifted, plan, (Event(EventType.NORMAL, "TrafficShifted", text),), plan.interval_seconds)


def advance(state: RolloutState, plan: RolloutPlan, now: datetime, ready: bool, why: str) -> Decision:
    """Leave the current step: enter the next one, or promote after the last."""
    next_index = state.current_step_index + 1
    if next_index >= len(plan.steps):
        return begin_promotion(state, plan, now, f"{why}; all {len(plan.steps)} steps done")
    entered = replace(state, current_step_index=next_index, step_started_at=now, window_started_at=now)
    step = plan.steps[next_index]
    label = _step_label(entered, plan)
    if isinstance(step, WeightStep):
        if ready and step.weight != entered.canary_weight:
            return shift_weight(entered, plan, step.weight, now, prefix=f"{why}; ")
        if ready:
            text = f"{why}; {label}: weight stays {step.weight}%"
            return decide(
                replace(entered, message=text), plan, _normal("StepStarted", text), plan.interval_seconds
            )
        text = f"{why}; {label}: waiting for canary to become Ready before sending it {step.weight}%"
        return decide(replace(entered, message=text), plan, _normal("StepStarted", text), poll_seconds(plan))
    weight = entered.canary_weight
    if step.duration_seconds is None:
        text = f"{why}; {label}: paused at weight {weight}% until ferryman.dev/action: resume or promote"
        paused = replace(entered, phase=Phase.PAUSED, pause_reason=PauseReason.STEP, message=text)
        return decide(paused, plan, _normal("Paused", text), plan.interval_seconds)
    text = f"{why}; {label}: pausing {format_duration(step.duration_seconds)} at weight {weight}%"
    requeue = min(plan.interval_seconds, max(MIN_REQUEUE_SECONDS, step.duration_seconds))
    return decide(replace(entered, message=text), plan, _normal("PauseStarted", text), requeue)


def _normal(reason: str, text: str) -> tuple[Event, ...]:
    return (Event(EventType.NORMAL, reason, text),)


def _pause_step(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    step: PauseStep,
    observation: Observation | None,
    now: datetime,
    ready: bool,
) -> Decision:
    """Hold the weight; keep judging (a bad canary still rolls back); move on when the pause is over."""
    if step.duration_seconds is None:  # reached only if status or plan was edited under us
        text = f"paused at weight {state.canary_weight}% until ferryman.dev/action: resume or promote"
        paused = replace(state, phase=Phase.PAUSED, pause_reason=PauseReason.STEP, message=text)
        return decide(paused, plan, _normal("Paused", text), plan.interval_seconds)
    elapsed = seconds_since(state.step_started_at, now)
    remaining = step.duration_seconds - elapsed
    if remaining <= 0:
        return advance(state, plan, now, ready, f"pause of {format_duration(step.duration_seconds)} done")
    if state.canary_weight == 0:
        return hold(state, plan, remaining)

    def keep_pausing(passed: RolloutState) -> Decision:
        return decide(passed, plan, (), min(plan.interval_seconds, remaining))

    decision = analyse_window(
        state, plan, policy, observation, now, deadline_applies=False, on_pass=keep_pausing
    )
    if decision.requeue_after_seconds is None:
        return decision
    return replace(
        decision,
        requeue_after_seconds=max(MIN_REQUEUE_SECONDS, min(decision.requeue_after_seconds, remaining)),
    )
