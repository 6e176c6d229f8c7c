"""The analysis around the judge: waiting, status writes, pauses, metric outages, and evidence over time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from rollout_fixtures import HEALTHY, QUIET, Observer, Run, Traffic, Turning, at

from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    EventType,
    Observation,
    Outcome,
    PauseStep,
    Phase,
    RolloutPlan,
    RolloutState,
    TrackSample,
    WeightStep,
)
from ferryman.rollout.judge import harm_threshold_log
from ferryman.rollout.tick import ANALYSIS_ERROR_RETRY_SECONDS, PEEK_SECONDS

pytestmark = pytest.mark.unit

HOLD_AT_10 = RolloutPlan(steps=(WeightStep(10), PauseStep(None), WeightStep(100)))
PROMETHEUS_DOWN = Traffic(error="Prometheus at http://prometheus:9090: connection refused")


def started(plan: RolloutPlan | None = None, policy: AnalysisPolicy | None = None) -> Run:
    run = Run(plan=plan or RolloutPlan(), policy=policy or AnalysisPolicy())
    run.start()
    run.tick(HEALTHY, seconds=5)
    return run


def paused() -> Run:
    run = started(HOLD_AT_10)
    run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    return run


def conditions(run: Run) -> dict[str, str]:
    return {c.type: c.status for c in run.last.conditions}


def test_status_is_not_rewritten_while_waiting_for_traffic() -> None:
    """Two waiting looks in a row give the identical status: a write only when something changes."""
    run = started(RolloutPlan(no_traffic_deadline_seconds=3600))
    run.until(lambda d: d.state.last_verdict is Outcome.INCONCLUSIVE, QUIET)
    first = run.follow(QUIET)
    second = run.follow(QUIET)
    assert first.state.to_status() == second.state.to_status()
    assert (first.events, second.events, first.verdict, second.verdict) == ((), (), None, None)


def test_status_is_not_rewritten_while_gathering_evidence() -> None:
    """At the evidence step the waiting message is written once; later looks change nothing in status."""
    run = started()
    run.until(lambda d: d.state.message.startswith("waiting: gathering evidence"), HEALTHY)
    first = run.follow(HEALTHY)
    second = run.follow(HEALTHY)
    assert first.state.phase is Phase.PROGRESSING and first.canary_weight == 50
    assert first.state.to_status() == second.state.to_status()


def test_the_inconclusive_event_and_verdict_come_once_per_waiting_stretch() -> None:
    """AnalysisInconclusive and its verdict mark the start of a stretch; a new stretch says it again."""
    run = started(RolloutPlan(no_traffic_deadline_seconds=3600))
    begins = run.until(lambda d: d.state.last_verdict is Outcome.INCONCLUSIVE, QUIET)
    assert [e.reason for e in begins.events] == ["AnalysisInconclusive"]
    assert begins.verdict is not None and begins.verdict.outcome is Outcome.INCONCLUSIVE
    for _ in range(10):
        assert run.follow(QUIET).events == ()
    passed = run.until(lambda d: d.verdict is not None, HEALTHY)
    assert passed.verdict is not None and passed.verdict.outcome is Outcome.PASS
    again = run.until(lambda d: d.state.last_verdict is Outcome.INCONCLUSIVE, QUIET)
    assert [e.reason for e in again.events] == ["AnalysisInconclusive"]


def test_windows_passing_while_paused_keep_the_message_and_record_no_verdict() -> None:
    """A person reads why the rollout is paused; passing windows only fold their evidence."""
    run = paused()
    message = run.state.message
    evidence_before = run.state.evidence["errorRate"].canary_total
    for _ in range(30):
        decision = run.follow(HEALTHY)
        assert decision.state.phase is Phase.PAUSED and decision.state.message == message
        assert decision.events == () and decision.verdict is None
    assert run.state.evidence["errorRate"].canary_total > evidence_before


def test_a_check_failing_during_a_pause_is_told_with_a_warning() -> None:
    """A custom metric out of bounds while paused counts toward failureLimit and says so, as it does
    while progressing; only waiting for traffic is quiet during a pause."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    run = Run(plan=HOLD_AT_10, policy=policy)
    run.start()
    run.until(lambda d: d.state.phase is Phase.PAUSED, Traffic(custom={"accuracy": 0.95}))
    decision = run.until(lambda d: d.state.failed_checks == 1, Traffic(custom={"accuracy": 0.5}))
    assert decision.state.phase is Phase.PAUSED
    assert [(e.type, e.reason) for e in decision.events] == [(EventType.WARNING, "AnalysisFailed")]


def test_metrics_unreadable_during_a_pause_are_told_and_the_pause_reason_comes_back() -> None:
    """A stage waiting for promote can sit for a day: a failed read must say so at once (a Warning, the
    error in MetricsAvailable), as it does while progressing. Before, the pause hid the first three
    failures: no Event, and the pause's own text in the condition."""
    run = paused()
    reason = run.state.message
    first = run.follow(PROMETHEUS_DOWN)
    assert first.state.phase is Phase.PAUSED
    assert [(e.type, e.reason) for e in first.events] == [(EventType.WARNING, "MetricsUnavailable")]
    metrics = next(c for c in first.conditions if c.type == "MetricsAvailable")
    assert metrics.status == "False" and "connection refused" in metrics.message
    assert first.state.message.startswith(f"{reason}; meanwhile metrics unavailable (1 of 4")
    second = run.follow(PROMETHEUS_DOWN)
    assert second.events == () and second.state.message.startswith(
        f"{reason}; meanwhile metrics unavailable (2 of 4"
    )
    back = run.follow(HEALTHY)
    assert back.state.phase is Phase.PAUSED and back.state.message == reason
    assert conditions(run)["MetricsAvailable"] == "True"


def test_while_paused_the_canary_is_looked_at_every_interval() -> None:
    """A person's pause may last days: the judge watches it once an interval, not every peek."""
    run = paused()
    for _ in range(20):
        run.follow(HEALTHY)
        assert run.last.requeue_after_seconds is not None
        assert PEEK_SECONDS < run.last.requeue_after_seconds <= run.plan.interval_seconds


def test_a_canary_turning_bad_during_a_pause_is_rolled_back_within_an_interval() -> None:
    """Half its requests failing from some moment on: weight 0 at the next look, within an interval."""
    run = paused()
    for _ in range(7):
        run.follow(HEALTHY)
    turned_bad = run.clock
    final = run.until_done(Turning(HEALTHY, replace(HEALTHY, canary_errors=0.5), at(turned_bad)))
    assert final.state.phase is Phase.ROLLED_BACK
    assert run.clock - turned_bad <= run.plan.interval_seconds


def test_metrics_unavailable_warns_once_and_degrades_at_the_limit() -> None:
    """Failed reads count (a Warning on the first, MetricsAvailable False); analysisErrorLimit (4) in a
    row ends the rollout as Degraded MetricsUnavailable without rejecting the version."""
    run = started()
    first = run.follow(PROMETHEUS_DOWN)
    assert first.state.analysis_errors == 1 and first.state.phase is Phase.PROGRESSING
    assert [(e.type, e.reason) for e in first.events] == [(EventType.WARNING, "MetricsUnavailable")]
    assert "connection refused" in first.events[0].message
    assert first.requeue_after_seconds == ANALYSIS_ERROR_RETRY_SECONDS
    assert conditions(run)["MetricsAvailable"] == "False"
    assert run.follow(PROMETHEUS_DOWN).events == ()
    run.follow(PROMETHEUS_DOWN)
    final = run.follow(PROMETHEUS_DOWN)
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0 and not final.reject_canary
    assert final.events[0].reason == "MetricsUnavailable"
    assert final.state.analysis_errors == 4
    assert run.clock - 5 == PEEK_SECONDS + 3 * ANALYSIS_ERROR_RETRY_SECONDS


def test_a_successful_read_resets_the_metric_error_count() -> None:
    """Errors must come in a row: one good read sets the count back to 0 and MetricsAvailable True."""
    run = started()
    for _ in range(3):
        run.follow(PROMETHEUS_DOWN)
    assert run.state.analysis_errors == 3
    recovered = run.follow(HEALTHY)
    assert recovered.state.analysis_errors == 0 and conditions(run)["MetricsAvailable"] == "True"
    for _ in range(3):
        run.follow(PROMETHEUS_DOWN)
    assert run.state.phase is Phase.PROGRESSING


def test_a_long_quiet_pause_starts_fresh_windows_and_keeps_the_evidence() -> None:
    """Paused with little traffic past noTrafficDeadline: not Degraded; the evidence is folded and a
    fresh window opens."""
    run = Run(plan=replace(HOLD_AT_10, no_traffic_deadline_seconds=120))
    run.start()
    run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    opened = run.state.window_started_at
    before = run.state.evidence["errorRate"].canary_total
    run.until(lambda d: d.state.window_started_at != opened, QUIET)
    assert run.state.phase is Phase.PAUSED
    assert run.state.evidence["errorRate"].canary_total > before


def noisy_traffic(seed: int, canary_errors: float) -> Observer:
    """50 req/s, the canary at 10%: binomial errors (stable 0.5%) and slow requests (0.1%), seeded."""
    rng = np.random.default_rng(seed)

    def observe(state: RolloutState, now: datetime) -> Observation:
        start = state.window_started_at or now
        seconds = (now - start).total_seconds()
        canary, stable = round(5 * seconds), round(45 * seconds)
        return Observation(
            window_start=start,
            window_end=now,
            canary=TrackSample.counted(
                canary, rng.binomial(canary, canary_errors), slow=rng.binomial(canary, 0.001)
            ),
            stable=TrackSample.counted(stable, rng.binomial(stable, 0.005), slow=rng.binomial(stable, 0.001)),
            canary_ready=True,
        )

    return observe


@pytest.mark.parametrize("seed", [1, 2])
def test_a_healthy_canary_held_for_2000_windows_is_not_rolled_back(seed: int) -> None:
    """False alarms do not grow with the number of windows: 2,000 windows (17 h) of a manual pause at
    50 req/s, canary as good as stable, and the evidence never reaches the threshold."""
    run = paused()
    observe = noisy_traffic(seed, canary_errors=0.005)
    threshold = harm_threshold_log(run.policy)
    for _ in range(2000):
        decision = run.tick(observe, run.plan.interval_seconds)
        assert decision.state.phase is Phase.PAUSED
        assert max(e.harm_log for e in decision.state.evidence.values()) < threshold


@pytest.mark.parametrize("seed", [1, 2])
def test_a_canary_with_twice_the_error_rate_is_found_during_the_same_pause(seed: int) -> None:
    """The same pause with the canary at 1% errors (2x stable): the evidence adds up and it rolls back."""
    run = paused()
    observe = noisy_traffic(seed, canary_errors=0.01)
    for _ in range(2000):
        if run.tick(observe, run.plan.interval_seconds).state.is_terminal:
            break
    assert run.state.phase is Phase.ROLLED_BACK and run.last.reject_canary
