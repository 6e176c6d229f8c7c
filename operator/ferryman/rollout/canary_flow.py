"""The canary strategy: user traffic moves through weight and pause steps, judged all along."""

from __future__ import annotations

from dataclasses import replace

from ferryman.api.vocabulary import PauseReason, Phase
from ferryman.rollout.analysis import Passed, analyse
from ferryman.rollout.decision import Decision, Event, EventType
from ferryman.rollout.endings import begin_promotion
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.plan import PauseStep, RolloutPlan, WeightStep
from ferryman.rollout.state import RolloutState
from ferryman.rollout.tick import MIN_REQUEUE_SECONDS, PEEK_SECONDS, Tick, look_again_seconds


def progress_canary(tick: Tick) -> Decision:
    """One Progressing reconcile of a canary (readiness deadline already checked by the caller)."""
    state, plan = tick.state, tick.plan
    if state.current_step_index >= len(plan.steps):  # the spec was edited mid-rollout
        last = len(plan.steps) - 1
        text = f"strategy.canary.steps now has {len(plan.steps)} steps; continuing at step {last + 1}"
        moved = replace(state, current_step_index=last, message=text)
        return tick.decide(moved, _normal("StepsChanged", text), tick.poll_seconds)
    step = plan.steps[state.current_step_index]
    if isinstance(step, PauseStep):
        return _pause_step(tick, step)
    if state.canary_weight != step.weight:
        if tick.ready:
            return shift_weight(tick, step.weight, prefix="")
        waiting = (
            f"waiting for canary {state.canary_version} to become Ready before sending it {step.weight}%"
        )
        return tick.hold(tick.poll_seconds, waiting)
    result = analyse(
        tick, deadline_applies=True, requires_evidence=state.current_step_index == plan.evidence_step_index
    )
    if isinstance(result, Passed):
        return advance(tick.with_state(result.state), f"analysis passed ({result.state.message})", result)
    return result


def _step_label(state: RolloutState, plan: RolloutPlan) -> str:
    return f"step {state.current_step_index + 1} of {len(plan.steps)}"


def shift_weight(tick: Tick, weight: int, prefix: str, passed: Passed | None = None) -> Decision:
    """Set the canary's share of user traffic and open a fresh analysis window."""
    state, plan, now = tick.state, tick.plan, tick.now
    old = state.canary_weight
    first_traffic = state.traffic_started_at is None and weight > 0
    shifted = replace(
        state,
        canary_weight=weight,
        window_started_at=now,
        traffic_started_at=now if first_traffic else state.traffic_started_at,
        last_verdict=state.last_verdict if passed else None,
        message=f"canary {state.canary_version} at {weight}% ({_step_label(state, plan)})",
    )
    text = f"{prefix}canary {state.canary_version} weight {old}% -> {weight}% ({_step_label(state, plan)})"
    events = (Event(EventType.NORMAL, "TrafficShifted", text),)
    # Look again soon: a canary that fails its first requests is rolled back without waiting a window.
    return tick.decide(shifted, events, PEEK_SECONDS, verdict=passed.verdict if passed else None)


def advance(tick: Tick, why: str, passed: Passed | None = None) -> Decision:
    """Leave the current step: enter the next one, or promote after the last."""
    state, plan, now = tick.state, tick.plan, tick.now
    verdict = passed.verdict if passed else None
    next_index = state.current_step_index + 1
    if next_index >= len(plan.steps):
        decision = begin_promotion(tick, f"{why}; all {len(plan.steps)} steps done")
        return replace(decision, verdict=verdict)
    entered = replace(state, current_step_index=next_index, step_started_at=now, window_started_at=now)
    step = plan.steps[next_index]
    label = _step_label(entered, plan)
    if isinstance(step, WeightStep):
        if tick.ready and step.weight != entered.canary_weight:
            return shift_weight(tick.with_state(entered), step.weight, prefix=f"{why}; ", passed=passed)
        if tick.ready:
            text = f"{why}; {label}: weight stays {step.weight}%"
            return tick.decide(replace(entered, message=text), _normal("StepStarted", text),
                               look_again_seconds(plan, entered), verdict=verdict)  # fmt: skip
        text = f"{why}; {label}: waiting for canary to become Ready before sending it {step.weight}%"
        return tick.decide(replace(entered, message=text), _normal("StepStarted", text), tick.poll_seconds,
                           verdict=verdict)  # fmt: skip
    weight = entered.canary_weight
    if step.duration_seconds is None:
        text = f"{why}; {label}: paused at weight {weight}% until ferryman.dev/action: resume or promote"
        paused = replace(entered, phase=Phase.PAUSED, pause_reason=PauseReason.STEP, message=text)
        return tick.decide(paused, _normal("Paused", text), look_again_seconds(plan, paused), verdict=verdict)
    text = f"{why}; {label}: pausing {format_duration(step.duration_seconds)} at weight {weight}%"
    requeue = min(look_again_seconds(plan, entered), max(MIN_REQUEUE_SECONDS, step.duration_seconds))
    return tick.decide(
        replace(entered, message=text), _normal("PauseStarted", text), requeue, verdict=verdict
    )


def _normal(reason: str, text: str) -> tuple[Event, ...]:
    return (Event(EventType.NORMAL, reason, text),)


def _pause_step(tick: Tick, step: PauseStep) -> Decision:
    """Hold the weight; keep judging (a bad canary still rolls back); move on when the pause is over."""
    state = tick.state
    if step.duration_seconds is None:  # reached only if status or plan was edited under us
        text = f"paused at weight {state.canary_weight}% until ferryman.dev/action: resume or promote"
        paused = replace(state, phase=Phase.PAUSED, pause_reason=PauseReason.STEP, message=text)
        return tick.decide(paused, _normal("Paused", text), look_again_seconds(tick.plan, paused))
    remaining = step.duration_seconds - tick.since(state.step_started_at)
    if remaining <= 0:
        return advance(tick, f"pause of {format_duration(step.duration_seconds)} done")
    if state.canary_weight == 0:
        return tick.hold(remaining)
    result = analyse(tick, deadline_applies=False, requires_evidence=False)
    if isinstance(result, Passed):  # keep pausing with a fresh window
        return tick.decide(
            result.state,
            (),
            max(MIN_REQUEUE_SECONDS, min(look_again_seconds(tick.plan, result.state), remaining)),
            verdict=result.verdict,
        )
    if result.requeue_after_seconds is None:
        return result
    requeue = max(MIN_REQUEUE_SECONDS, min(result.requeue_after_seconds, remaining))
    return replace(result, requeue_after_seconds=requeue)
