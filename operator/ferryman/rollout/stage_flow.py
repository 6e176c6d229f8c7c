"""Blue-green, shadow and A/B: one analysis stage with no user-traffic weight, then promote.

- blue-green: the preview Service gets no user traffic; the canary fields of the observation are the
  preview's metrics (smoke or test traffic). Promote after a pass once `autoPromoteAfter` elapsed
  (with autoPromote) or on `promote`.
- shadow: `mirrorPercent` of requests are copied to the canary, responses discarded; judged on its
  own metrics vs stable. Shadow success does not promote unless autoPromote is set: mirrored traffic
  never proves clients accept the new answers.
- A/B: header/cookie-matched requests go to the canary; after `duration` with a pass, promote with
  autoPromote or on `promote`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ferryman.rollout.decision import Decision, Event, EventType, decide
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, RolloutPlan, StrategyKind
from ferryman.rollout.state import PauseReason, Phase, RolloutState
from ferryman.rollout.transitions import analyse_window, begin_promotion, hold, poll_seconds, seconds_since


def _stage_start_text(state: RolloutState, plan: RolloutPlan) -> str:
    version = state.canary_version
    if plan.strategy is StrategyKind.BLUE_GREEN:
        return f"preview {version} ready; analysing preview traffic (no user traffic)"
    if plan.strategy is StrategyKind.SHADOW:
        return f"mirroring {plan.mirror_percent}% of requests to {version}; its responses are discarded"
    return f"requests matching the A/B rule now go to {version}"


def progress_stage(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
    ready: bool,
) -> Decision:
    """One Progressing reconcile of a single-stage strategy."""
    if state.traffic_started_at is None:
        if not ready:
            waiting = f"waiting for {state.canary_version} to become Ready"
            return hold(state, plan, poll_seconds(plan), waiting)
        text = _stage_start_text(state, plan)
        started = replace(
            state, traffic_started_at=now, window_started_at=now, step_started_at=now, message=text
        )
        return decide(started, plan, (Event(EventType.NORMAL, "StageStarted", text),), plan.interval_seconds)

    def after_pass(passed: RolloutState) -> Decision:
        return _after_stage_pass(passed, plan, now)

    return analyse_window(state, plan, policy, observation, now, deadline_applies=True, on_pass=after_pass)


def _after_stage_pass(state: RolloutState, plan: RolloutPlan, now: datetime) -> Decision:
    elapsed = seconds_since(state.step_started_at, now)
    duration = plan.stage_duration_seconds
    if elapsed < duration:
        text = f"{state.message}; {format_duration(duration - elapsed)} of {format_duration(duration)} left"
        return decide(replace(state, message=text), plan, (), plan.interval_seconds)
    why = f"analysis passed after {format_duration(elapsed)} ({state.message})"
    if plan.auto_promote:
        return begin_promotion(state, plan, now, f"{why}; autoPromote")
    text = f"{why}; waiting for ferryman.dev/action: promote"
    waiting = replace(state, phase=Phase.PAUSED, pause_reason=PauseReason.AWAITING_PROMOTION, message=text)
    return decide(waiting, plan, (Event(EventType.NORMAL, "AwaitingPromotion", text),), plan.interval_seconds)
