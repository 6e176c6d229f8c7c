"""How a rollout ends: promotion (and its confirmation), rollback, Degraded, and the canary's retirement."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ferryman.api.vocabulary import Phase, StrategyKind
from ferryman.rollout.decision import Decision, Event, EventType
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.judge import Verdict
from ferryman.rollout.tick import MIN_REQUEUE_SECONDS, Tick


def end_rollout(
    tick: Tick, *, phase: Phase, reason: str, message: str, reject: bool, verdict: Verdict | None = None
) -> Decision:
    """Weight 0 at once and a terminal phase; stable (never scaled down) takes all traffic.

    The canary's pods stay for the scale-down delay: the data plane may still be sending it the
    requests it accepted before the weight change was in force.
    """
    retire_at = tick.now + timedelta(seconds=tick.plan.canary_scale_down_delay_seconds)
    ended = replace(
        tick.state,
        phase=phase,
        canary_weight=0,
        pause_reason=None,
        message=message,
        canary_retire_at=retire_at,
        end_reason=reason,
    )
    events = (Event(EventType.WARNING, reason, message),)
    return tick.decide(ended, events, None, reject_canary=reject, verdict=verdict)


def retire_canary(tick: Tick) -> Decision:
    """After a finished rollout: keep the canary's pods until the delay passed, then let them go."""
    retire_at = tick.state.canary_retire_at
    if retire_at is not None and tick.now < retire_at:
        remaining = (retire_at - tick.now).total_seconds()
        return tick.decide(tick.state, (), max(MIN_REQUEUE_SECONDS, remaining))
    return tick.decide(replace(tick.state, canary_retire_at=None), (), None)


def fail_not_ready(tick: Tick) -> Decision:
    state = tick.state
    deadline = format_duration(tick.plan.progress_deadline_seconds)
    message = (
        f"canary {state.canary_version} not ready after {deadline} (progressDeadline); "
        f"all traffic back to stable {state.stable_version}"
    )
    return end_rollout(
        tick, phase=Phase.DEGRADED, reason="ProgressDeadlineExceeded", message=message, reject=False
    )


def begin_promotion(tick: Tick, why: str) -> Decision:
    """The canary's version is to become stable; the weights stay until the switch is safe."""
    message = f"promoting {tick.state.canary_version}: {why}"
    promoting = replace(
        tick.state, phase=Phase.PROMOTING, step_started_at=tick.now, pause_reason=None, message=message
    )
    return tick.decide(promoting, (Event(EventType.NORMAL, "Promoting", message),), tick.poll_seconds)


def promotion_step(tick: Tick) -> Decision:
    """Succeeded once the stable Deployment serves the canary's version; Degraded past the deadline."""
    state, observation = tick.state, tick.observation
    if observation is not None and observation.stable_serving_version == state.canary_version:
        message = f"version {state.canary_version} promoted: it is now stable and serves all traffic"
        retire_at = tick.now + timedelta(seconds=tick.plan.canary_scale_down_delay_seconds)
        done = replace(
            state,
            phase=Phase.SUCCEEDED,
            stable_version=state.canary_version or state.stable_version,
            canary_version=None,
            canary_weight=0,
            message=message,
            canary_retire_at=retire_at,
        )
        return tick.decide(done, (Event(EventType.NORMAL, "Promoted", message),), None)
    if tick.since(state.step_started_at) >= tick.plan.progress_deadline_seconds:
        message = (
            f"stable Deployment not ready with version {state.canary_version} after "
            f"{format_duration(tick.plan.progress_deadline_seconds)} (progressDeadline); "
            f"stable goes back to version {state.stable_version}"
        )
        return end_rollout(
            tick, phase=Phase.DEGRADED, reason="PromotionFailed", message=message, reject=False
        )
    if tick.plan.strategy is StrategyKind.BLUE_GREEN and tick.ready and state.canary_weight != 100:
        # Blue-green switches users in one step to the Ready preview, then moves stable under them.
        text = f"blue-green cutover: all traffic to {state.canary_version} while stable moves to it"
        cut_over = replace(state, canary_weight=100, message=text)
        return tick.decide(cut_over, (Event(EventType.NORMAL, "TrafficShifted", text),), tick.poll_seconds)
    return tick.hold(tick.poll_seconds)
