"""The rollout state machine's entry points: start, step once per interval, apply a manual action.

Pure functions of (state, plan, policy, observation, now); the handler applies the Decision.
"""

from __future__ import annotations

import enum
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from ferryman.rollout.canary_flow import advance, progress_canary
from ferryman.rollout.decision import Decision, Event, EventType, decide
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, PauseStep, RolloutPlan, StrategyKind
from ferryman.rollout.stage_flow import progress_stage
from ferryman.rollout.state import PauseReason, Phase, RolloutState, require_aware
from ferryman.rollout.transitions import (
    ACTION_FOLLOW_UP_SECONDS,
    analyse_window,
    begin_promotion,
    end_rollout,
    fail_not_ready,
    hold,
    poll_seconds,
    promotion_step,
    seconds_since,
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
    return decide(
        state, plan, (Event(EventType.NORMAL, "RolloutStarted", state.message),), poll_seconds(plan)
    )


def next_step(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
) -> Decision:
    """Continue, wait, promote or roll back: call once per interval (extra calls are harmless)."""
    now = require_aware("now", now)
    if _idle(state):
        return decide(state, plan, (), None)
    state = _normalize_times(state, now)
    if state.phase is Phase.PROMOTING:
        return promotion_step(state, plan, observation, now)
    ready = observation is not None and observation.canary_ready
    state = replace(state, unready_since=None if ready else (state.unready_since or now))
    if state.phase is Phase.PAUSED:
        return _while_paused(state, plan, policy, observation, now)
    if not ready and seconds_since(state.unready_since, now) >= plan.progress_deadline_seconds:
        return fail_not_ready(state, plan)
    if plan.strategy is StrategyKind.CANARY:
        return progress_canary(state, plan, policy, observation, now, ready)
    return progress_stage(state, plan, policy, observation, now, ready)


def _idle(state: RolloutState) -> bool:
    """Terminal, or Pending (no rollout started: the handler calls `start_rollout` first)."""
    return state.is_terminal or state.phase is Phase.PENDING or state.canary_version is None


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


def _canary_has_traffic(state: RolloutState, plan: RolloutPlan) -> bool:
    if plan.strategy is StrategyKind.CANARY:
        return state.canary_weight > 0
    return state.traffic_started_at is not None


def _while_paused(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
) -> Decision:
    """A human holds the rollout; the judge keeps watching so a bad canary still rolls back."""
    if not _canary_has_traffic(state, plan):
        return hold(state, plan, plan.interval_seconds)

    def stay_paused(passed: RolloutState) -> Decision:
        return decide(passed, plan, (), plan.interval_seconds)

    decision = analyse_window(
        state, plan, policy, observation, now, deadline_applies=False, on_pass=stay_paused
    )
    if decision.state.phase is Phase.PAUSED:  # keep telling the person what the rollout waits for
        return replace(decision, state=replace(decision.state, message=state.message))
    return decision


def apply_action(state: RolloutState, plan: RolloutPlan, action: RolloutAction, now: datetime) -> Decision:
    """Apply `ferryman.dev/action`: promote now, abort now (weight 0), or resume a paused step."""
    now = require_aware("now", now)
    if _idle(state):
        return _ignored(state, plan, action, f"no rollout in progress (phase {state.phase})")
    if action is RolloutAction.ABORT:
        message = (
            f"rollout of {state.canary_version} aborted by ferryman.dev/action: abort; "
            f"all traffic back to stable {state.stable_version}"
        )
        return end_rollout(
            state, plan, phase=Phase.ROLLED_BACK, reason="Aborted", message=message, reject=True
        )
    if action is RolloutAction.PROMOTE:
        if state.phase is Phase.PROMOTING:
            return _ignored(state, plan, action, "the rollout is already promoting")
        why = f"ferryman.dev/action: promote at weight {state.canary_weight}%, remaining steps skipped"
        return begin_promotion(state, plan, now, why)
    if state.phase is not Phase.PAUSED:
        return _ignored(state, plan, action, f"the rollout is {state.phase}, not paused")
    if state.pause_reason is PauseReason.AWAITING_PROMOTION:
        return _ignored(state, plan, action, "analysis already passed; use promote (or abort)")
    resumed = replace(state, phase=Phase.PROGRESSING, pause_reason=None, unready_since=None)
    if plan.strategy is not StrategyKind.CANARY:
        return decide(
            resumed, plan, (Event(EventType.NORMAL, "Resumed", "resumed"),), ACTION_FOLLOW_UP_SECONDS
        )
    decision = advance(resumed, plan, now, False, "resumed by ferryman.dev/action: resume")
    if decision.requeue_after_seconds is None:
        return decision
    return replace(decision, requeue_after_seconds=ACTION_FOLLOW_UP_SECONDS)


def _ignored(state: RolloutState, plan: RolloutPlan, action: RolloutAction, why: str) -> Decision:
    text = f"ferryman.dev/action: {action} ignored: {why}"
    requeue = None if _idle(state) else plan.interval_seconds
    return decide(state, plan, (Event(EventType.NORMAL, "ActionIgnored", text),), requeue)
