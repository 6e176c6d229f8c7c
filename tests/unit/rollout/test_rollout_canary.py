"""The canary strategy, one rule per test (docs/rollouts.md)."""

from __future__ import annotations

from datetime import datetime

import pytest
from rollout_fixtures import Run, at, healthy, observe

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
    next_step,
)

pytestmark = pytest.mark.unit


def bad(state: RolloutState, now: datetime) -> Observation:
    return observe(state, now, canary=(1000, 41))


def quiet(state: RolloutState, now: datetime) -> Observation:
    return observe(state, now, canary=(10, 0))


def test_start_sends_no_traffic_until_the_canary_is_ready() -> None:
    """A new rollout starts at weight 0 with an Event; the canary Deployment runs the new version."""
    decision = Run().start()
    assert decision.state.phase is Phase.PROGRESSING
    assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.canary_deployment_version == "7"
    assert decision.stable_deployment_version == "6"
    assert [event.reason for event in decision.events] == ["RolloutStarted"]


def test_weight_never_moves_to_a_canary_that_is_not_ready() -> None:
    """While the canary is not Ready the first step holds at weight 0."""
    run = Run()
    run.start()
    decision = run.tick(lambda s, now: observe(s, now, ready=False), seconds=5)
    assert decision.canary_weight == 0
    assert decision.events == ()


def test_ready_canary_gets_the_first_step_weight() -> None:
    """Once Ready, traffic shifts to the first step's weight with a TrafficShifted Event."""
    run = Run()
    run.start()
    decision = run.tick(healthy, seconds=5)
    assert decision.canary_weight == 5
    assert decision.state.traffic_started_at == at(5)
    assert decision.events[0].reason == "TrafficShifted"


def test_healthy_canary_walks_all_steps_and_succeeds() -> None:
    """Each passed window advances one step; after the last step the canary is promoted."""
    run = Run()
    run.start()
    final = run.until_done(healthy)
    weights = [d.canary_weight for d in run.decisions]
    assert [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]] == [0, 5, 25, 50, 100, 0]
    assert final.state.phase is Phase.SUCCEEDED
    assert final.state.stable_version == "7"
    assert final.canary_deployment_version is None
    assert "Promoting" in run.reasons() and run.reasons()[-1] == "Promoted"


def test_promotion_waits_for_the_stable_deployment_to_serve_the_new_version() -> None:
    """Promoting points the stable Deployment at the canary's version and waits for confirmation."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(50),)))
    run.start()
    run.tick(lambda s, now: observe(s, now), seconds=5)
    promoting = run.tick(lambda s, now: observe(s, now))
    assert promoting.state.phase is Phase.PROMOTING
    assert promoting.stable_deployment_version == "7" and promoting.promote_canary
    still = run.tick(lambda s, now: observe(s, now, stable_serving="6"))
    assert still.state.phase is Phase.PROMOTING and still.canary_weight == 50
    assert run.tick(healthy).state.phase is Phase.SUCCEEDED


def test_promotion_that_never_completes_degrades_after_the_deadline() -> None:
    """A stable Deployment that never becomes ready with the new version ends Degraded, weight 0."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(50),), progress_deadline_seconds=60))
    run.start()
    run.tick(lambda s, now: observe(s, now), seconds=5)
    run.tick(lambda s, now: observe(s, now))
    final = run.until_done(lambda s, now: observe(s, now))
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0
    assert final.stable_deployment_version == "6"
    assert final.events[0].reason == "PromotionFailed"


def test_one_failed_check_below_the_limit_holds_the_step() -> None:
    """A failed window counts toward failureLimit with a Warning Event; the weight stays."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    decision = run.tick(bad)
    assert decision.state.failed_checks == 1 and decision.canary_weight == 5
    assert decision.events[0].type is EventType.WARNING
    assert decision.events[0].message.endswith("1 of 2 checks failed")


def test_reaching_the_failure_limit_rolls_back_at_once() -> None:
    """The failureLimit-th failed window sets weight 0, RolledBack, Degraded, and rejects the canary."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    run.tick(bad)
    decision = run.tick(bad)
    assert decision.state.phase is Phase.ROLLED_BACK
    assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.reject_canary and decision.canary_deployment_version is None
    assert decision.events[0].message == (
        "canary error rate 4.1% vs stable 0.3% over 30s (limit 1%), 2 of 2 checks failed; "
        "all traffic back to stable 6"
    )
    degraded = {c.type: c for c in decision.conditions}["Degraded"]
    assert degraded.status == "True" and degraded.reason == "RolledBack"


def test_failed_checks_are_counted_over_the_whole_rollout() -> None:
    """Failures do not reset on a pass: a canary failing every other window still rolls back."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(5), WeightStep(10), WeightStep(20))))
    run.start()
    run.tick(healthy, seconds=5)
    run.tick(bad)
    run.tick(healthy)
    assert run.last.canary_weight == 10
    assert run.tick(bad).state.phase is Phase.ROLLED_BACK


def test_low_traffic_waits_instead_of_rolling_back() -> None:
    """With fewer requests than minRequests the step waits; no traffic is not failure."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    decision = run.tick(quiet)
    assert decision.state.phase is Phase.PROGRESSING and decision.canary_weight == 5
    assert decision.state.last_verdict is Outcome.INCONCLUSIVE
    assert decision.state.failed_checks == 0
    assert [e.reason for e in decision.events] == ["AnalysisInconclusive"]
    assert run.tick(quiet).events == ()  # said once, not every interval


def test_evidence_accumulates_while_waiting_for_traffic() -> None:
    """The analysis window stays open while inconclusive, so the next query covers all of it."""
    run = Run()
    run.start()
    opened = run.tick(healthy, seconds=5).state.window_started_at
    run.tick(quiet)
    assert run.tick(quiet).state.window_started_at == opened
    assert run.last.state.no_traffic_seconds == 60


def test_no_traffic_past_the_deadline_degrades_without_blaming_the_canary() -> None:
    """Past noTrafficDeadline the rollout stops (weight 0, Degraded) but the version is not rejected."""
    run = Run(plan=RolloutPlan(no_traffic_deadline_seconds=300))
    run.start()
    run.tick(healthy, seconds=5)
    final = run.until_done(quiet)
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0
    assert not final.reject_canary
    assert final.events[0].reason == "NotEnoughTraffic"
    assert "not enough traffic to judge" in final.events[0].message
    assert run.clock - 5 == 300


def test_canary_never_ready_fails_after_the_progress_deadline() -> None:
    """A canary that never becomes Ready fails cleanly after progressDeadline, naming it."""
    run = Run()
    run.start()
    final = run.until_done(lambda s, now: observe(s, now, ready=False), seconds=5)
    assert final.state.phase is Phase.DEGRADED and final.canary_weight == 0
    assert final.events[0].reason == "ProgressDeadlineExceeded"
    assert final.events[0].message.startswith("canary 7 not ready after 10m (progressDeadline)")
    assert run.clock == 600


def test_readiness_blip_mid_step_does_not_fail_the_rollout() -> None:
    """The deadline counts from when the canary last turned unready, not from the step start."""
    run = Run(plan=RolloutPlan(progress_deadline_seconds=60, no_traffic_deadline_seconds=10_000))
    run.start()
    run.tick(healthy, seconds=5)
    for _ in range(4):
        run.tick(quiet)
    decision = run.tick(lambda s, now: observe(s, now, canary=(10, 0), ready=False))
    assert decision.state.phase is Phase.PROGRESSING


def test_pass_while_not_ready_defers_the_weight_shift() -> None:
    """A passing window advances the step but the weight waits for the canary to be Ready again."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    decision = run.tick(lambda s, now: observe(s, now, ready=False))
    assert decision.state.current_step_index == 1 and decision.canary_weight == 5
    assert run.tick(healthy, seconds=5).canary_weight == 25


def test_calls_before_the_interval_do_nothing() -> None:
    """Extra reconciles inside an interval neither judge nor advance (idempotent handler)."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    decision = run.tick(bad, seconds=10)
    assert decision.state == run.decisions[-2].state
    assert decision.requeue_after_seconds == 20


def test_timed_pause_holds_weight_then_continues() -> None:
    """A pause step with a duration keeps the weight for that long, then moves to the next step."""
    plan = RolloutPlan(steps=(WeightStep(10), PauseStep(90), WeightStep(50)))
    run = Run(plan=plan)
    run.start()
    run.tick(healthy, seconds=5)
    assert run.tick(healthy).events[0].reason == "PauseStarted"
    assert run.tick(healthy).canary_weight == 10
    run.tick(healthy)
    assert run.tick(healthy).canary_weight == 50


def test_bad_canary_still_rolls_back_during_a_pause() -> None:
    """Pauses do not stop the judge: failures keep counting."""
    plan = RolloutPlan(steps=(WeightStep(10), PauseStep(None), WeightStep(50)))
    run = Run(plan=plan)
    run.start()
    run.tick(healthy, seconds=5)
    assert run.tick(healthy).state.phase is Phase.PAUSED
    run.tick(bad)
    assert run.tick(bad).state.phase is Phase.ROLLED_BACK


def test_manual_pause_waits_without_a_deadline() -> None:
    """A pause step without duration stays Paused (no traffic deadline) until resume or promote."""
    plan = RolloutPlan(
        steps=(WeightStep(10), PauseStep(None), WeightStep(50)), no_traffic_deadline_seconds=60
    )
    run = Run(plan=plan)
    run.start()
    run.tick(healthy, seconds=5)
    run.tick(healthy)
    for _ in range(20):
        decision = run.tick(quiet)
    assert decision.state.phase is Phase.PAUSED
    assert decision.state.pause_reason is PauseReason.STEP
    assert "until ferryman.dev/action: resume or promote" in decision.state.message


def test_first_step_pause_without_duration_starts_paused() -> None:
    """A plan that opens with an approval step starts Paused at weight 0."""
    run = Run(plan=RolloutPlan(steps=(PauseStep(None), WeightStep(50))))
    assert run.start().state.phase is Phase.PAUSED


def test_last_step_below_100_promotes_after_passing() -> None:
    """Steps need not reach 100: passing the last one promotes (like Flagger's maxWeight)."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(10), WeightStep(30))))
    run.start()
    assert run.until_done(healthy).state.phase is Phase.SUCCEEDED


def test_terminal_state_absorbs_every_observation() -> None:
    """After RolledBack nothing changes, nothing is emitted, nothing is requeued."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    run.tick(bad)
    rolled_back = run.tick(bad)
    again = next_step(
        rolled_back.state, run.plan, AnalysisPolicy(), healthy(rolled_back.state, at(9999)), at(9999)
    )
    assert again.state == rolled_back.state
    assert again.events == () and again.requeue_after_seconds is None


def test_future_timestamps_from_a_skewed_clock_do_not_postpone_deadlines() -> None:
    """Timestamps ahead of `now` are treated as `now`, so deadlines still expire."""
    run = Run()
    start = run.start()
    skewed = start.state.__class__.from_status(
        {**start.state.to_status(), "unreadySince": "2099-01-01T00:00:00Z"}
    )
    first = next_step(skewed, run.plan, run.policy, None, at(10))
    assert first.state.unready_since == at(10)
    later = next_step(first.state, run.plan, run.policy, None, at(10 + 600))
    assert later.state.phase is Phase.DEGRADED


def test_naive_now_is_rejected_with_a_clear_error() -> None:
    """`now` must be timezone-aware; the message says so."""
    run = Run()
    state = run.start().state
    with pytest.raises(ValueError, match=r"now: .* has no timezone"):
        next_step(state, run.plan, run.policy, None, datetime(2026, 1, 1))


def test_shrunk_plan_continues_at_its_last_step_and_says_so() -> None:
    """If spec.strategy.canary.steps loses steps mid-rollout, the rollout continues at the new last step."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    run.tick(healthy)
    run.tick(healthy)
    assert run.last.state.current_step_index == 2
    run.plan = RolloutPlan(steps=(WeightStep(5), WeightStep(25)))
    decision = run.tick(healthy, seconds=1)
    assert decision.state.current_step_index == 1
    assert decision.events[0].reason == "StepsChanged"


def test_custom_metric_without_data_degrades_as_no_data() -> None:
    """A custom query that never returns data stops the rollout at the deadline with reason NoData."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    run = Run(plan=RolloutPlan(no_traffic_deadline_seconds=120), policy=policy)
    run.start()
    run.tick(healthy, seconds=5)
    final = run.until_done(lambda s, now: observe(s, now, custom={"accuracy": None}))
    assert final.state.phase is Phase.DEGRADED
    assert final.events[0].reason == "NoData"
    assert "metric accuracy has no data" in final.events[0].message


def test_timed_pause_requeues_no_later_than_its_end() -> None:
    """A 10s pause asks to be called back within 10s, not after a whole interval."""
    plan = RolloutPlan(steps=(WeightStep(10), PauseStep(10), WeightStep(50)))
    run = Run(plan=plan)
    run.start()
    run.tick(healthy, seconds=5)
    pausing = run.tick(healthy)
    assert pausing.requeue_after_seconds == 10
    assert run.tick(healthy, seconds=10).canary_weight == 50
