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

from ferryman.api.vocabulary import PauseReason, Phase, StrategyKind
from ferryman.rollout.analysis import Passed, analyse
from ferryman.rollout.decision import Decision, Event, EventType
from ferryman.rollout.endings import begin_promotion
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.tick import Tick, look_again_seconds


def _stage_start_text(tick: Tick) -> str:
    version, plan = tick.state.canary_version, tick.plan
    if plan.strategy is StrategyKind.BLUE_GREEN:
        return f"preview {version} ready; analysing preview traffic (no user traffic)"
    if plan.strategy is StrategyKind.SHADOW:
        return f"mirroring {plan.mirror_percent}% of requests to {version}; its responses are discarded"
    return f"requests matching the A/B rule now go to {version}"


def progress_stage(tick: Tick) -> Decision:
    """One Progressing reconcile of a single-stage strategy."""
    state, now = tick.state, tick.now
    if state.traffic_started_at is None:
        if not tick.ready:
            return tick.hold(tick.poll_seconds, f"waiting for {state.canary_version} to become Ready")
        text = _stage_start_text(tick)
        started = replace(
            state, traffic_started_at=now, window_started_at=now, step_started_at=now, message=text
        )
        return tick.decide(
            started, (Event(EventType.NORMAL, "StageStarted", text),), look_again_seconds(tick.plan, started)
        )
    stage_over = tick.since(state.step_started_at) >= tick.plan.stage_duration_seconds
    result = analyse(tick, deadline_applies=True, requires_evidence=stage_over)
    if isinstance(result, Passed):
        return _after_stage_pass(tick.with_state(result.state), result)
    return result


def _after_stage_pass(tick: Tick, passed: Passed) -> Decision:
    state, plan = tick.state, tick.plan
    elapsed = tick.since(state.step_started_at)
    duration = plan.stage_duration_seconds
    if elapsed < duration:
        # The message names the end time, not the time left: it must not change on every look.
        text = f"{state.message}; stage runs {format_duration(duration)} in all"
        return tick.decide(
            replace(state, message=text), (), look_again_seconds(plan, state), verdict=passed.verdict
        )
    why = f"analysis passed after {format_duration(elapsed)} ({state.message})"
    if plan.auto_promote:
        return replace(begin_promotion(tick, f"{why}; autoPromote"), verdict=passed.verdict)
    text = f"{why}; waiting for ferryman.dev/action: promote"
    waiting = replace(state, phase=Phase.PAUSED, pause_reason=PauseReason.AWAITING_PROMOTION, message=text)
    events = (Event(EventType.NORMAL, "AwaitingPromotion", text),)
    return tick.decide(waiting, events, look_again_seconds(plan, waiting), verdict=passed.verdict)
