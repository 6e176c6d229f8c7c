"""The canary strategy, one rule per test (docs/rollouts.md), driven as the handler drives it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from rollout_fixtures import HEALTHY, QUIET, Run, Traffic, at

from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    EventType,
    Observation,
    Outcome,
    PauseReason,
    PauseStep,
    Phase,
    RolloutPlan,
    RolloutState,
    WeightStep,
    evidence_gap,
    next_step,
)
from ferryman.rollout.tick import MIN_REQUEUE_SECONDS

pytestmark = pytest.mark.unit

HALF_FAILING = Traffic(canary_errors=0.5)


def started(plan: RolloutPlan | None = None, policy: AnalysisPolicy | None = None) -> Run:
    """A rollout whose canary was seen Ready 5 s after the start and got its first weight."""
    run = Run(plan=plan or RolloutPlan(), policy=policy or AnalysisPolicy())
    run.start()
    run.tick(HEALTHY, seconds=5)
    return run


def test_start_sends_no_traffic_until_the_canary_is_ready() -> None:
    """A new rollout starts at weight 0 with an Event; the canary Deployment runs the new version."""
    decision = Run().start()
    assert decision.state.phase is Phase.PROGRESSING
    assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.canary_deployment_version == "7" and decision.stable_deployment_version == "6"
    assert [event.reason for event in decision.events] == ["RolloutStarted"]


def test_weight_never_moves_to_a_canary_that_is_not_ready() -> None:
    """While the canary is not Ready the first step holds at weight 0, silently."""
    run = Run()
    run.start()
    decision = run.tick(replace(HEALTHY, ready=False), seconds=5)
    assert decision.canary_weight == 0 and decision.events == ()


def test_ready_canary_gets_the_first_weight_and_is_looked_at_again_within_a_peek() -> None:
    """Once Ready: the first step's weight, a TrafficShifted Event, and a requeue of PEEK_SECONDS (5 s)."""
    decision = started().last
    assert decision.canary_weight == 5 and decision.state.traffic_started_at == at(5)
    assert decision.events[0].reason == "TrafficShifted"
    assert decision.requeue_after_seconds == 5


def test_healthy_canary_walks_all_steps_gathers_evidence_and_succeeds() -> None:
    """Each passed window advances a step; the last split step (50%) waits until a 1.5x regression is
    ruled out, then the canary goes to 100% and is promoted."""
    run = Run()
    run.start()
    final = run.until_done(HEALTHY)
    assert run.weights() == [0, 5, 25, 50, 100, 0]
    assert final.state.phase is Phase.SUCCEEDED and final.state.stable_version == "7"
    assert final.canary_deployment_version is None
    assert run.reasons().count("AnalysisInconclusive") == 1 and run.reasons()[-2:] == [
        "Promoting",
        "Promoted",
    ]
    gathering = [d for d in run.decisions if d.state.message.startswith("waiting: gathering evidence")]
    assert gathering and {d.canary_weight for d in gathering} == {50}
    first_at_100 = next(d for d in run.decisions if d.canary_weight == 100)
    assert evidence_gap(run.policy, first_at_100.state.evidence) is None
    assert evidence_gap(run.policy, gathering[0].state.evidence) is not None


def test_evidence_gate_gives_up_waiting_after_the_no_traffic_deadline_and_says_so() -> None:
    """Too little traffic to rule a regression out: after noTrafficDeadline of gathering, go on anyway."""
    run = started(RolloutPlan(steps=(WeightStep(50), WeightStep(100)), no_traffic_deadline_seconds=120))
    final = run.until_done(Traffic(rps=8))  # 120 canary requests a window: enough to judge, not to rule out
    assert final.state.phase is Phase.SUCCEEDED
    shifted_to_100 = next(d for d in run.decisions if d.canary_weight == 100)
    assert "evidence still short after noTrafficDeadline (errorRate:" in shifted_to_100.events[0].message


def test_half_failing_canary_rolls_back_at_the_first_peek() -> None:
    """Decisive harm needs no full window and no failureLimit: 5 s after its first traffic, weight 0."""
    run = started(policy=AnalysisPolicy(failure_limit=4))
    decision = run.follow(HALF_FAILING)
    assert decision.state.phase is Phase.ROLLED_BACK
    assert run.clock - 5 == 5
    assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.reject_canary and decision.canary_deployment_version is None
    (event,) = decision.events
    assert event.type is EventType.WARNING and event.reason == "RolledBack"
    assert event.message.startswith("canary error rate 48% vs stable 0.21% (12 of 25 vs 1 of 475)")
    assert event.message.endswith("all traffic back to stable 6")
    assert decision.verdict is not None and decision.verdict.decisive
    degraded = {c.type: c for c in decision.conditions}["Degraded"]
    assert degraded.status == "True" and degraded.reason == "RolledBack"


def test_shared_outage_does_not_roll_back() -> None:
    """Both tracks at 5% errors (over the 1% limit) while they share traffic: not the canary's fault.

    (At weight 100 stable is idle and the canary is judged alone against the limit: test_rollout_judge.)
    """
    run = Run(plan=RolloutPlan(steps=(WeightStep(5), WeightStep(25), WeightStep(50))))
    run.start()
    final = run.until_done(Traffic(canary_errors=0.05, stable_errors=0.05))
    assert final.state.phase is Phase.SUCCEEDED
    assert "RolledBack" not in run.reasons()


def test_slow_canary_beside_a_fast_stable_rolls_back() -> None:
    """2% of the canary's requests over the p99 limit, none of stable's: rolled back on latency."""
    run = Run()
    run.start()
    final = run.until_done(Traffic(canary_slow=0.02))
    assert final.state.phase is Phase.ROLLED_BACK and final.reject_canary
    assert final.state.canary_version == "7"
    assert final.verdict is not None and [c.name for c in final.verdict.checks] == ["latency"]
    assert "vs stable 0%" in final.events[0].message


def test_canary_as_slow_as_stable_is_promoted() -> None:
    """Both tracks 2% slow: the p99 limit is broken for both, so it is not the canary's doing."""
    run = Run()
    run.start()
    assert run.until_done(Traffic(canary_slow=0.02, stable_slow=0.02)).state.phase is Phase.SUCCEEDED


def test_custom_metric_out_of_bounds_counts_toward_the_failure_limit() -> None:
    """A custom metric out of bounds fails the window: a Warning, the weight stays, a fresh window opens."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    run = started(policy=policy)
    low = Traffic(custom={"accuracy": 0.5})
    decision = run.until(lambda d: d.state.failed_checks == 1, low)
    assert decision.canary_weight == 5 and decision.state.phase is Phase.PROGRESSING
    assert decision.events[0].type is EventType.WARNING and decision.events[0].reason == "AnalysisFailed"
    assert decision.events[0].message.endswith("1 of 2 checks failed")
    assert decision.state.window_started_at == at(run.clock)
    final = run.until(lambda d: d.state.is_terminal, low)
    assert final.state.phase is Phase.ROLLED_BACK and final.reject_canary
    assert "2 of 2 checks failed; all traffic back to stable 6" in final.events[0].message


def test_failed_checks_are_counted_over_the_whole_rollout() -> None:
    """Failures do not reset on a pass: a custom metric failing every other window still rolls back."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    run = started(RolloutPlan(steps=(WeightStep(5), WeightStep(10), WeightStep(20))), policy)
    windows = iter([0.5, 0.95, 0.5])

    def alternating(state: RolloutState, now: datetime) -> Observation:
        complete = (now - (state.window_started_at or now)).total_seconds() >= 30
        value = next(windows) if complete else 0.95
        return Traffic(custom={"accuracy": value})(state, now)

    final = run.until_done(alternating)
    assert final.state.phase is Phase.ROLLED_BACK and final.state.failed_checks == 2
    assert run.weights() == [0, 5, 10, 0]


def test_low_traffic_waits_then_degrades_without_blaming_the_canary() -> None:
    """Under minRequests the window stays open (one Event, one message); past noTrafficDeadline the
    rollout stops as Degraded NotEnoughTraffic, and the version is not rejected."""
    run = started(RolloutPlan(no_traffic_deadline_seconds=300))
    opened = run.state.window_started_at
    waiting = run.until(lambda d: d.state.last_verdict is Outcome.INCONCLUSIVE, QUIET)
    assert [e.reason for e in waiting.events] == ["AnalysisInconclusive"]
    assert waiting.state.message.startswith("waiting: not enough traffic to judge")
    final = run.until_done(QUIET)
    assert all(d.state.window_started_at == opened for d in run.decisions[1:-1])
    assert run.reasons().count("AnalysisInconclusive") == 1
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0 and not final.reject_canary
    assert final.events[0].reason == "NotEnoughTraffic"
    assert "not enough traffic to judge" in final.events[0].message
    assert run.clock - 5 == 300


def test_latency_limit_without_latency_data_degrades_as_no_data() -> None:
    """A latency limit and no histogram data: the window waits, then ends Degraded with reason NoData."""
    run = started(RolloutPlan(no_traffic_deadline_seconds=120))
    final = run.until_done(Traffic(canary_slow=None))
    assert final.state.phase is Phase.DEGRADED and not final.reject_canary
    assert final.events[0].reason == "NoData"
    assert "canary latency has no data" in final.events[0].message


def test_canary_never_ready_fails_after_the_progress_deadline() -> None:
    """A canary that never becomes Ready fails cleanly after progressDeadline, naming it."""
    run = Run()
    run.start()
    final = run.until_done(replace(HEALTHY, ready=False))
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0
    assert final.events[0].reason == "ProgressDeadlineExceeded"
    assert final.events[0].message.startswith("canary 7 not ready after 10m (progressDeadline)")
    assert run.clock == 600


def test_readiness_blip_mid_step_does_not_fail_the_rollout() -> None:
    """The deadline counts from when the canary last turned unready, not from the step start."""
    run = started(RolloutPlan(progress_deadline_seconds=60, no_traffic_deadline_seconds=10_000))
    for _ in range(20):
        run.follow(QUIET)
    decision = run.tick(replace(QUIET, ready=False), seconds=5)
    assert decision.state.phase is Phase.PROGRESSING


def test_pass_while_not_ready_defers_the_weight_shift() -> None:
    """A passing window advances the step but the weight waits for the canary to be Ready again."""
    run = started()
    decision = run.tick(replace(HEALTHY, ready=False))
    assert decision.state.current_step_index == 1 and decision.canary_weight == 5
    assert run.tick(HEALTHY, seconds=5).canary_weight == 25


def test_peeks_inside_the_window_neither_judge_nor_advance() -> None:
    """Before the interval is over a look without decisive harm changes nothing and comes back in 5 s."""
    run = started()
    before = run.state
    decision = run.tick(Traffic(canary_errors=0.02), seconds=10)
    assert decision.state == before and decision.events == () and decision.verdict is None
    assert decision.requeue_after_seconds == 5


def test_timed_pause_holds_weight_then_continues() -> None:
    """A pause step with a duration keeps the weight for that long, then moves to the next step."""
    run = started(RolloutPlan(steps=(WeightStep(10), PauseStep(90), WeightStep(50))))
    pausing = run.tick(HEALTHY)
    assert pausing.events[0].reason == "PauseStarted" and pausing.canary_weight == 10
    run.until(lambda d: d.canary_weight == 50, HEALTHY)
    assert run.clock - 35 == pytest.approx(90)


def test_timed_pause_requeues_no_later_than_its_end() -> None:
    """A 10s pause asks to be called back within 10s, not after a whole interval."""
    run = started(RolloutPlan(steps=(WeightStep(10), PauseStep(10), WeightStep(50))))
    requeue = run.tick(HEALTHY).requeue_after_seconds
    assert requeue is not None and requeue <= 10
    assert run.tick(HEALTHY, seconds=10).canary_weight == 50


def test_a_timed_pause_never_asks_for_a_requeue_sooner_than_a_second() -> None:
    """Its last look before the end is at least MIN_REQUEUE_SECONDS away (no tight loop), and the
    pause still ends on time."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(100), PauseStep(30.5), WeightStep(100))))
    run.start()
    run.until(lambda d: d.state.current_step_index == 2, HEALTHY)
    requeues = [d.requeue_after_seconds for d in run.decisions if d.requeue_after_seconds is not None]
    assert min(requeues) >= MIN_REQUEUE_SECONDS


def test_bad_canary_still_rolls_back_during_a_manual_pause() -> None:
    """Pauses do not stop the judge: decisive harm rolls back while a person holds the rollout."""
    run = started(RolloutPlan(steps=(WeightStep(10), PauseStep(None), WeightStep(50))))
    assert run.tick(HEALTHY).state.phase is Phase.PAUSED
    assert run.tick(HALF_FAILING, seconds=5).state.phase is Phase.ROLLED_BACK


def test_manual_pause_waits_without_a_deadline() -> None:
    """A pause step without duration stays Paused (no traffic deadline) until resume or promote."""
    run = started(
        RolloutPlan(steps=(WeightStep(10), PauseStep(None), WeightStep(50)), no_traffic_deadline_seconds=60)
    )
    run.tick(HEALTHY)
    for _ in range(40):
        decision = run.follow(QUIET)
    assert decision.state.phase is Phase.PAUSED and decision.state.pause_reason is PauseReason.STEP
    assert "until ferryman.dev/action: resume or promote" in decision.state.message


def test_first_step_pause_without_duration_starts_paused() -> None:
    """A plan that opens with an approval step starts Paused at weight 0."""
    assert Run(plan=RolloutPlan(steps=(PauseStep(None), WeightStep(50)))).start().state.phase is Phase.PAUSED


def test_last_step_below_100_promotes_after_passing() -> None:
    """Steps need not reach 100: passing the last one promotes (like Flagger's maxWeight)."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(10), WeightStep(30))))
    run.start()
    assert run.until_done(HEALTHY).state.phase is Phase.SUCCEEDED


def test_promotion_waits_for_the_stable_deployment_to_serve_the_new_version() -> None:
    """Promoting points the stable Deployment at the canary's version and waits for confirmation."""
    run = started(RolloutPlan(steps=(WeightStep(100),)))
    pending = replace(HEALTHY, promoted=False)
    promoting = run.until(lambda d: d.state.phase is Phase.PROMOTING, pending)
    assert promoting.stable_deployment_version == "7"
    still = run.follow(pending)
    assert still.state.phase is Phase.PROMOTING and still.canary_weight == 100
    assert run.follow(HEALTHY).state.phase is Phase.SUCCEEDED


def test_promotion_that_never_completes_degrades_after_the_deadline() -> None:
    """A stable Deployment that never becomes ready with the new version ends Degraded, weight 0."""
    run = started(RolloutPlan(steps=(WeightStep(100),), progress_deadline_seconds=60))
    final = run.until_done(replace(HEALTHY, promoted=False))
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0
    assert final.stable_deployment_version == "6" and not final.reject_canary
    assert final.events[0].reason == "PromotionFailed"


def test_future_timestamps_from_a_skewed_clock_do_not_postpone_deadlines() -> None:
    """Timestamps ahead of `now` are treated as `now`, so deadlines still expire."""
    run = Run()
    start = run.start()
    skewed = RolloutState.from_status({**start.state.to_status(), "unreadySince": "2099-01-01T00:00:00Z"})
    first = next_step(skewed, run.plan, run.policy, None, at(10))
    assert first.state.unready_since == at(10)
    assert next_step(first.state, run.plan, run.policy, None, at(10 + 600)).state.phase is Phase.DEGRADED


def test_naive_now_is_rejected_with_a_clear_error() -> None:
    """`now` must be timezone-aware; the message says so."""
    run = Run()
    state = run.start().state
    with pytest.raises(ValueError, match=r"now: .* has no timezone"):
        next_step(state, run.plan, run.policy, None, datetime(2026, 1, 1))


def test_shrunk_plan_continues_at_its_last_step_and_says_so() -> None:
    """If spec.strategy.canary.steps loses steps mid-rollout, the rollout continues at the new last step."""
    run = started()
    run.until(lambda d: d.state.current_step_index == 2, HEALTHY)
    run.plan = RolloutPlan(steps=(WeightStep(5), WeightStep(25)))
    decision = run.tick(HEALTHY, seconds=1)
    assert decision.state.current_step_index == 1
    assert decision.events[0].reason == "StepsChanged"
