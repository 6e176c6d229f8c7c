"""The rollout state machine's entry points: start, step once per interval, apply a manual action.

Pure functions of (state, plan, policy, observation, now); the handler applies the Decision.
"""

from __future__ import annotations

import enum
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from ferryman.api.vocabulary import ROLLOUT_STOPPED, PauseReason, Phase, StrategyKind
from ferryman.rollout.analysis import Passed, analyse
from ferryman.rollout.canary_flow import advance, progress_canary
from ferryman.rollout.decision import Decision, Event, EventType
from ferryman.rollout.endings import (
    begin_promotion,
    end_rollout,
    fail_not_ready,
    promotion_step,
    retire_canary,
)
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, PauseStep, RolloutPlan
from ferryman.rollout.stage_flow import progress_stage
from ferryman.rollout.state import RolloutState, require_aware
from ferryman.rollout.tick import (
    ACTION_FOLLOW_UP_SECONDS,
    Tick,
    canary_has_traffic,
    decide,
    look_again_seconds,
)


class RolloutAction(enum.StrEnum):
    """Values of the `ferryman.dev/action` annotation (and `ferryman promote|abort`)."""

    PROMOTE = "promote"
    ABORT = "abort"
    RESUME = "resume"


def parse_action(text: str) -> RolloutAction:
    """The annotation value as an action, or a ValueError that names the annotation and the choices."""
    try:
        return RolloutAction(text.strip().lower())
    except ValueError:
        choices = ", ".join(action.value for action in RolloutAction)
        raise ValueError(f"annotation ferryman.dev/action: {text!r} is not one of {choices}") from None


def start_rollout(plan: RolloutPlan, stable_version: str, canary_version: str, now: datetime) -> Decision:
    """A new version appeared: start its canary beside stable with no user traffic yet."""
    now = require_aware("now", now)
    if not canary_version or canary_version == stable_version:
        raise ValueError(
            f"canary_version: {canary_version!r} must be set and differ from stable {stable_version!r}"
        )
    message = (
        f"rolling out {canary_version} beside stable {stable_version} ({plan.strategy}); "
        "waiting for it to be Ready"
    )
    state = RolloutState(
        phase=Phase.PROGRESSING,
        strategy=plan.strategy,
        stable_version=stable_version,
        canary_version=canary_version,
        rollout_started_at=now,
        step_started_at=now,
        unready_since=now,
        message=message,
    )
    first = plan.steps[0]
    if (
        plan.strategy is StrategyKind.CANARY
        and isinstance(first, PauseStep)
        and first.duration_seconds is None
    ):
        text = f"{message}; paused at weight 0% until ferryman.dev/action: resume or promote"
        state = replace(state, phase=Phase.PAUSED, pause_reason=PauseReason.STEP, message=text)
    events = (Event(EventType.NORMAL, "RolloutStarted", state.message),)
    tick = Tick(state, plan, AnalysisPolicy(), None, now)
    return decide(plan, state, events, tick.poll_seconds)


def next_step(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
) -> Decision:
    """Continue, wait, promote or roll back: call when requeued (extra calls are harmless)."""
    now = require_aware("now", now)
    if state.is_terminal:
        return retire_canary(Tick(state, plan, policy, observation, now))
    if state.phase is Phase.PENDING or state.canary_version is None:
        return decide(plan, state, (), None)
    state = _normalize_times(state, now)
    tick = Tick(state, plan, policy, observation, now)
    if state.phase is Phase.PROMOTING:
        return promotion_step(tick)
    tick = tick.with_state(replace(state, unready_since=None if tick.ready else (state.unready_since or now)))
    if state.phase is Phase.PAUSED:
        return _while_paused(tick)
    if not tick.ready and tick.since(tick.state.unready_since) >= plan.progress_deadline_seconds:
        return fail_not_ready(tick)
    if plan.strategy is StrategyKind.CANARY:
        return progress_canary(tick)
    return progress_stage(tick)


def _normalize_times(state: RolloutState, now: datetime) -> RolloutState:
    """Make every deadline start: timestamps from a replica whose clock ran ahead become `now`,
    and missing start times (a hand-edited or older status) start counting `now`."""
    fixed: dict[str, Any] = {
        spec.name: now
        for spec in fields(state)
        if isinstance(getattr(state, spec.name), datetime) and getattr(state, spec.name) > now
    }
    for name in ("rollout_started_at", "step_started_at"):
        if getattr(state, name) is None:
            fixed[name] = now
    return replace(state, **fixed) if fixed else state


def _while_paused(tick: Tick) -> Decision:
    """A person holds the rollout; the judge keeps watching so a bad canary still rolls back.

    Windows that pass while paused only fold their evidence: they record no verdict and change no
    message, so the person sees what the rollout waits for and status is not rewritten every window.
    """
    if not canary_has_traffic(tick.plan, tick.state):
        return tick.hold(tick.plan.interval_seconds)
    result = analyse(tick, deadline_applies=False, requires_evidence=False)
    held = _pause_message(tick.state.message)
    if isinstance(result, Passed):
        kept = replace(result.state, message=held)
        return tick.decide(kept, (), look_again_seconds(tick.plan, kept))
    if result.state.phase is not Phase.PAUSED:
        return result  # rolled back, or ended after analysisErrorLimit failed reads
    if result.state.analysis_errors > tick.state.analysis_errors:
        # Metrics unreadable are told as at any time (a Warning on the first failed read, MetricsAvailable
        # False with the error), behind the reason of the pause, which comes back once reads succeed.
        told = f"{held}{WHILE_PAUSED}{result.state.message}"
        return replace(result, state=replace(result.state, message=told))
    # Waiting for traffic while paused: no Event, same message. A failed check is told, paused or not.
    if result.state.failed_checks == tick.state.failed_checks:
        quiet = replace(result.state, message=held)
        return replace(result, state=quiet, events=(), verdict=None)
    return result


# Joins the reason of a pause and the error of a failed metric read ("metrics unavailable (...): ...").
WHILE_PAUSED = "; meanwhile "


def _pause_message(message: str) -> str:
    """The reason of the pause, without the metric error a failed read added to it."""
    return message.split(f"{WHILE_PAUSED}metrics unavailable (", 1)[0]


def apply_action(state: RolloutState, plan: RolloutPlan, action: RolloutAction, now: datetime) -> Decision:
    """Apply `ferryman.dev/action`: promote now, abort now (weight 0), or resume a paused step."""
    now = require_aware("now", now)
    tick = Tick(state, plan, AnalysisPolicy(), None, now)
    if state.is_terminal or state.phase is Phase.PENDING or state.canary_version is None:
        return _ignored(tick, action, f"no rollout in progress (phase {state.phase})")
    if action is RolloutAction.ABORT:
        message = (
            f"rollout of {state.canary_version} aborted by ferryman.dev/action: abort; "
            f"all traffic back to stable {state.stable_version}"
        )
        return end_rollout(tick, phase=Phase.ROLLED_BACK, reason="Aborted", message=message, reject=True)
    if action is RolloutAction.PROMOTE:
        if state.phase is Phase.PROMOTING:
            return _ignored(tick, action, "the rollout is already promoting")
        why = f"ferryman.dev/action: promote at weight {state.canary_weight}%, remaining steps skipped"
        return begin_promotion(tick, why)
    if state.phase is not Phase.PAUSED:
        return _ignored(tick, action, f"the rollout is {state.phase}, not paused")
    if state.pause_reason is PauseReason.AWAITING_PROMOTION:
        return _ignored(tick, action, "analysis already passed; use promote (or abort)")
    resumed = tick.with_state(replace(state, phase=Phase.PROGRESSING, pause_reason=None, unready_since=None))
    if plan.strategy is not StrategyKind.CANARY:
        return resumed.decide(
            resumed.state, (Event(EventType.NORMAL, "Resumed", "resumed"),), ACTION_FOLLOW_UP_SECONDS
        )
    # The person vouches for readiness only by resuming; the next tick shifts weight once Ready.
    decision = advance(resumed, "resumed by ferryman.dev/action: resume")
    if decision.requeue_after_seconds is None:
        return decision
    return replace(decision, requeue_after_seconds=ACTION_FOLLOW_UP_SECONDS)


def stop_rollout(state: RolloutState, plan: RolloutPlan, why: str, now: datetime) -> Decision:
    """The rollout cannot be judged any more (e.g. its spec became invalid): all traffic back to stable,
    Degraded, the canary not marked rejected (it was not judged). A finished rollout stays as it is."""
    now = require_aware("now", now)
    tick = Tick(state, plan, AnalysisPolicy(), None, now)
    if state.is_terminal or state.phase is Phase.PENDING or state.canary_version is None:
        return tick.decide(state, (), None)
    message = (
        f"{why}; rollout of {state.canary_version} stopped, all traffic back to stable {state.stable_version}"
    )
    return end_rollout(tick, phase=Phase.DEGRADED, reason=ROLLOUT_STOPPED, message=message, reject=False)


def _ignored(tick: Tick, action: RolloutAction, why: str) -> Decision:
    text = f"ferryman.dev/action: {action} ignored: {why}"
    idle = tick.state.is_terminal or tick.state.phase is Phase.PENDING
    return tick.decide(tick.state, (Event(EventType.NORMAL, "ActionIgnored", text),),
                       None if idle else tick.plan.interval_seconds)  # fmt: skip
