"""Building blocks shared by every strategy: wait, judge a window, promote, end the rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ferryman.rollout.decision import Decision, Event, EventType, decide
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.judge import Outcome, Verdict, judge
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, RolloutPlan, StrategyKind
from ferryman.rollout.state import Phase, RolloutState

# How often to look again while waiting on Kubernetes (readiness, promotion), not on metrics.
READINESS_POLL_SECONDS = 5.0
# After a manual action, come back quickly so the follow-up (e.g. a weight shift) is not delayed.
ACTION_FOLLOW_UP_SECONDS = 1.0
# Never ask to be requeued sooner than this: a tight loop helps nobody.
MIN_REQUEUE_SECONDS = 1.0

NO_OBSERVATION = Verdict(Outcome.INCONCLUSIVE, "no observation: metrics and readiness unknown")

OnPass = Callable[[RolloutState], Decision]


def seconds_since(moment: datetime | None, now: datetime) -> float:
    """Elapsed seconds, 0 for a missing or future moment (clock skew must not extend deadlines)."""
    if moment is None:
        return 0.0
    return max(0.0, (now - moment).total_seconds())


def poll_seconds(plan: RolloutPlan) -> float:
    return max(MIN_REQUEUE_SECONDS, min(plan.interval_seconds, READINESS_POLL_SECONDS))


def hold(state: RolloutState, plan: RolloutPlan, requeue: float, message: str | None = None) -> Decision:
    """Nothing changes but (maybe) the message; come back later. Waiting is not a transition: no Event."""
    held = state if message is None else replace(state, message=message)
    return decide(held, plan, (), max(MIN_REQUEUE_SECONDS, requeue))


def end_rollout(
    state: RolloutState, plan: RolloutPlan, *, phase: Phase, reason: str, message: str, reject: bool
) -> Decision:
    """Weight 0 at once and a terminal phase; stable (never scaled down) takes all traffic."""
    ended = replace(state, phase=phase, canary_weight=0, pause_reason=None, message=message)
    return decide(ended, plan, (Event(EventType.WARNING, reason, message),), None, reject_canary=reject)


def fail_not_ready(state: RolloutState, plan: RolloutPlan) -> Decision:
    deadline = format_duration(plan.progress_deadline_seconds)
    message = (
        f"canary {state.canary_version} not ready after {deadline} (progressDeadline); "
        f"all traffic back to stable {state.stable_version}"
    )
    return end_rollout(
        state, plan, phase=Phase.DEGRADED, reason="ProgressDeadlineExceeded", message=message, reject=False
    )


def begin_promotion(state: RolloutState, plan: RolloutPlan, now: datetime, why: str) -> Decision:
    """The canary's version is to become stable; the weights stay until the switch is safe."""
    message = f"promoting {state.canary_version}: {why}"
    promoting = replace(state, phase=Phase.PROMOTING, step_started_at=now, pause_reason=None, message=message)
    return decide(promoting, plan, (Event(EventType.NORMAL, "Promoting", message),), poll_seconds(plan))


def promotion_step(
    state: RolloutState, plan: RolloutPlan, observation: Observation | None, now: datetime
) -> Decision:
    """Succeeded once the stable Deployment serves the canary's version; Degraded past the deadline."""
    if observation is not None and observation.stable_serving_version == state.canary_version:
        message = f"version {state.canary_version} promoted: it is now stable and serves all traffic"
        done = replace(
            state,
            phase=Phase.SUCCEEDED,
            stable_version=state.canary_version or state.stable_version,
            canary_version=None,
            canary_weight=0,
            message=message,
        )
        return decide(done, plan, (Event(EventType.NORMAL, "Promoted", message),), None)
    if seconds_since(state.step_started_at, now) >= plan.progress_deadline_seconds:
        message = (
            f"stable Deployment not ready with version {state.canary_version} after "
            f"{format_duration(plan.progress_deadline_seconds)} (progressDeadline); "
            f"stable goes back to version {state.stable_version}"
        )
        return end_rollout(
            state, plan, phase=Phase.DEGRADED, reason="PromotionFailed", message=message, reject=False
        )
    ready = observation is not None and observation.canary_ready
    if plan.strategy is StrategyKind.BLUE_GREEN and ready and state.canary_weight != 100:
        # Blue-green switches users in one step to the Ready preview, then moves stable under them.
        text = f"blue-green cutover: all traffic to {state.canary_version} while stable moves to it"
        cut_over = replace(state, canary_weight=100, message=text)
        return decide(cut_over, plan, (Event(EventType.NORMAL, "TrafficShifted", text),), poll_seconds(plan))
    return hold(state, plan, poll_seconds(plan))


def analyse_window(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    observation: Observation | None,
    now: datetime,
    *,
    deadline_applies: bool,
    on_pass: OnPass,
) -> Decision:
    """Judge the window once it has lasted an interval; earlier calls just wait (idempotent)."""
    if state.window_started_at is None:  # status from an older writer: open a window now
        return hold(replace(state, window_started_at=now), plan, plan.interval_seconds)
    elapsed = seconds_since(state.window_started_at, now)
    if elapsed < plan.interval_seconds:
        return hold(state, plan, plan.interval_seconds - elapsed)
    verdict = NO_OBSERVATION if observation is None else judge(observation, policy)
    return apply_verdict(
        state, plan, policy, verdict, now, deadline_applies=deadline_applies, on_pass=on_pass
    )


def apply_verdict(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    verdict: Verdict,
    now: datetime,
    *,
    deadline_applies: bool,
    on_pass: OnPass,
) -> Decision:
    if verdict.outcome is Outcome.FAIL:
        decision = _count_failure(state, plan, policy, verdict, now)
    elif verdict.outcome is Outcome.INCONCLUSIVE:
        decision = _wait_for_evidence(state, plan, verdict, now, deadline_applies=deadline_applies)
    else:
        judged = replace(state, window_started_at=now, no_traffic_seconds=0.0, last_verdict=Outcome.PASS)
        decision = on_pass(replace(judged, message=verdict.message))
    return replace(decision, verdict=verdict)


def _count_failure(
    state: RolloutState, plan: RolloutPlan, policy: AnalysisPolicy, verdict: Verdict, now: datetime
) -> Decision:
    failed = state.failed_checks + 1
    summary = f"{verdict.message}, {failed} of {policy.failure_limit} checks failed"
    counted = replace(state, failed_checks=failed, last_verdict=Outcome.FAIL)
    if failed >= policy.failure_limit:
        message = f"{summary}; all traffic back to stable {state.stable_version}"
        return end_rollout(
            counted, plan, phase=Phase.ROLLED_BACK, reason="RolledBack", message=message, reject=True
        )
    counted = replace(counted, window_started_at=now, no_traffic_seconds=0.0, message=summary)
    return decide(
        counted, plan, (Event(EventType.WARNING, "AnalysisFailed", summary),), plan.interval_seconds
    )


def _wait_for_evidence(
    state: RolloutState, plan: RolloutPlan, verdict: Verdict, now: datetime, *, deadline_applies: bool
) -> Decision:
    """No traffic is not failure: keep the window open; past noTrafficDeadline stop without blame."""
    waited = seconds_since(state.window_started_at, now)
    deadline = plan.no_traffic_deadline_seconds
    if deadline_applies and waited >= deadline:
        reason = "NotEnoughTraffic" if not verdict.checks else "NoData"
        message = (
            f"{verdict.message}; waited {format_duration(waited)} (noTrafficDeadline "
            f"{format_duration(deadline)}); canary {state.canary_version} was not judged, "
            f"all traffic back to stable {state.stable_version}"
        )
        return end_rollout(state, plan, phase=Phase.DEGRADED, reason=reason, message=message, reject=False)
    waiting = replace(
        state,
        last_verdict=Outcome.INCONCLUSIVE,
        no_traffic_seconds=waited,
        message=f"waiting: {verdict.message}",
    )
    if not deadline_applies and waited >= deadline:  # paused: drop stale evidence, never fail for it
        waiting = replace(waiting, window_started_at=now, no_traffic_seconds=0.0)
    first = state.last_verdict is not Outcome.INCONCLUSIVE
    events = (Event(EventType.NORMAL, "AnalysisInconclusive", verdict.message),) if first else ()
    return decide(waiting, plan, events, plan.interval_seconds)
