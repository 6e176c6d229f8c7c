"""Judging the open window: roll back on decisive harm at any moment, wait, count a failure, or pass.

`analyse` returns a Decision when the analysis itself decided what happens (rollback, waiting, a
counted failure) and `Passed` when the window passed: then the strategy's flow decides what is next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ferryman.api.vocabulary import Outcome, Phase
from ferryman.rollout.decision import Decision, Event, EventType, worth_recording
from ferryman.rollout.endings import end_rollout
from ferryman.rollout.formatting import format_duration
from ferryman.rollout.judge import Verdict, evidence_gap, find_harm, judge_without_harm, with_window
from ferryman.rollout.observation import Observation
from ferryman.rollout.state import RolloutState
from ferryman.rollout.tick import ANALYSIS_ERROR_RETRY_SECONDS, Tick

NO_OBSERVATION = Verdict(Outcome.INCONCLUSIVE, "no observation: metrics and readiness unknown")


@dataclass(frozen=True, slots=True)
class Passed:
    """The window passed: its evidence is folded in and a fresh window opens now."""

    state: RolloutState
    verdict: Verdict


def analyse(tick: Tick, *, deadline_applies: bool, requires_evidence: bool) -> Decision | Passed:
    """One look at the open window (call while the canary has traffic; extra calls are harmless).

    `deadline_applies`: a window that cannot be judged for noTrafficDeadline ends the rollout (not
    while a person holds it paused). `requires_evidence`: the window passes only once a
    `detect_ratio` regression is ruled out (the step before full traffic or promotion).
    """
    state, observation = tick.state, tick.observation
    if state.window_started_at is None:  # status from an older writer: open a window now
        return tick.hold(tick.plan.interval_seconds, state=replace(state, window_started_at=tick.now))
    if observation is not None and observation.error is not None:
        return _metrics_unavailable(tick, observation.error)
    if state.analysis_errors:
        tick = tick.with_state(replace(state, analysis_errors=0))
    if observation is not None:
        harm = find_harm(observation, tick.policy, state.evidence)
        if harm is not None:
            return _roll_back(tick, harm, observation)
    remaining = tick.plan.interval_seconds - tick.since(state.window_started_at)
    if remaining > 0:
        return tick.hold(min(remaining, tick.peek_seconds), state=tick.state)
    if observation is None:
        return _wait(tick, NO_OBSERVATION, deadline_applies=deadline_applies)
    verdict = judge_without_harm(observation, tick.policy)  # harm was ruled out above
    if verdict.outcome is Outcome.FAIL:
        return _count_failure(tick, verdict, observation)
    if verdict.outcome is Outcome.INCONCLUSIVE:
        return _wait(tick, verdict, deadline_applies=deadline_applies)
    folded = with_window(state.evidence, observation, tick.policy)
    gap = evidence_gap(tick.policy, folded) if requires_evidence else None
    if gap is not None and tick.since(state.window_started_at) < tick.plan.no_traffic_deadline_seconds:
        waiting = Verdict(Outcome.INCONCLUSIVE, f"gathering evidence before going on: {gap}", verdict.checks)
        return _wait(tick, waiting, deadline_applies=False)
    message = verdict.message
    if gap is not None:
        message = f"{verdict.message}; evidence still short after noTrafficDeadline ({gap}), going on"
    passed = replace(
        tick.state,
        evidence=folded,
        window_started_at=tick.now,
        last_verdict=Outcome.PASS,
        message=message,
    )
    return Passed(passed, replace(verdict, message=message))


def _roll_back(tick: Tick, harm: Verdict, observation: Observation) -> Decision:
    state = replace(
        tick.state,
        evidence=with_window(tick.state.evidence, observation, tick.policy),
        last_verdict=Outcome.FAIL,
        failed_checks=tick.state.failed_checks + 1,
    )
    message = f"{harm.message}; all traffic back to stable {state.stable_version}"
    return end_rollout(
        tick.with_state(state), phase=Phase.ROLLED_BACK, reason="RolledBack", message=message, reject=True,
        verdict=harm,
    )  # fmt: skip


def _count_failure(tick: Tick, verdict: Verdict, observation: Observation) -> Decision:
    """A custom metric out of bounds: counts toward failureLimit; reaching it rolls back at once."""
    state, policy = tick.state, tick.policy
    failed = state.failed_checks + 1
    summary = f"{verdict.message}, {failed} of {policy.failure_limit} checks failed"
    counted = replace(
        state,
        failed_checks=failed,
        last_verdict=Outcome.FAIL,
        evidence=with_window(state.evidence, observation, policy),
    )
    if failed >= policy.failure_limit:
        message = f"{summary}; all traffic back to stable {state.stable_version}"
        return end_rollout(
            tick.with_state(counted), phase=Phase.ROLLED_BACK, reason="RolledBack", message=message,
            reject=True, verdict=verdict,
        )  # fmt: skip
    counted = replace(counted, window_started_at=tick.now, message=summary)
    events = (Event(EventType.WARNING, "AnalysisFailed", summary),)
    return tick.decide(counted, events, tick.peek_seconds, verdict=verdict)


def _wait(tick: Tick, verdict: Verdict, *, deadline_applies: bool) -> Decision:
    """No traffic is not failure: keep the window open; past noTrafficDeadline stop without blame."""
    state = tick.state
    waited = tick.since(state.window_started_at)
    deadline = tick.plan.no_traffic_deadline_seconds
    if deadline_applies and waited >= deadline:
        reason = "NotEnoughTraffic" if not verdict.checks else "NoData"
        message = (
            f"{verdict.message}; waited {format_duration(waited)} (noTrafficDeadline "
            f"{format_duration(deadline)}); canary {state.canary_version} was not judged, "
            f"all traffic back to stable {state.stable_version}"
        )
        return end_rollout(tick, phase=Phase.DEGRADED, reason=reason, message=message, reject=False)
    starts_stretch = state.last_verdict is not Outcome.INCONCLUSIVE
    # The message is written when a waiting stretch starts and then left alone: status is rewritten
    # when something a person acts on changes, not because a counter moved.
    waiting = replace(
        state,
        last_verdict=Outcome.INCONCLUSIVE,
        message=f"waiting: {verdict.message}" if starts_stretch else state.message,
    )
    if not deadline_applies and waited >= deadline and tick.observation is not None:
        # Paused for a long time: fold the evidence so far and start a fresh window.
        folded = with_window(state.evidence, tick.observation, tick.policy)
        waiting = replace(waiting, evidence=folded, window_started_at=tick.now)
    events = (Event(EventType.NORMAL, "AnalysisInconclusive", verdict.message),) if starts_stretch else ()
    recorded = verdict if worth_recording(verdict, state) else None
    return tick.decide(waiting, events, tick.peek_seconds, verdict=recorded)


def _metrics_unavailable(tick: Tick, error: str) -> Decision:
    """Metrics could not be read: retry; after analysisErrorLimit reads in a row, back to stable."""
    state, policy = tick.state, tick.policy
    errors = state.analysis_errors + 1
    text = f"metrics unavailable ({errors} of {policy.analysis_error_limit} reads in a row failed): {error}"
    if errors >= policy.analysis_error_limit:
        message = (
            f"{text}; canary {state.canary_version} cannot be judged, "
            f"all traffic back to stable {state.stable_version}"
        )
        failed = replace(state, analysis_errors=errors)
        return end_rollout(tick.with_state(failed), phase=Phase.DEGRADED, reason="MetricsUnavailable",
                           message=message, reject=False)  # fmt: skip
    events = (Event(EventType.WARNING, "MetricsUnavailable", text),) if errors == 1 else ()
    return tick.decide(
        replace(state, analysis_errors=errors, message=text), events, ANALYSIS_ERROR_RETRY_SECONDS
    )
