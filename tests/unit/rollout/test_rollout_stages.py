"""Blue-green, shadow and A/B: one analysis stage without user-traffic weight, then promote."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_fixtures import HEALTHY, Run, Traffic, Turning, at

from ferryman.rollout import (
    PauseReason,
    Phase,
    RolloutAction,
    RolloutPlan,
    StrategyKind,
    apply_action,
    evidence_gap,
)
from ferryman.rollout.tick import PEEK_SECONDS

pytestmark = pytest.mark.unit

HALF_FAILING = Traffic(canary_errors=0.5)


def started(plan: RolloutPlan) -> Run:
    """The candidate was seen Ready 5 s after the start and its stage began."""
    run = Run(plan=plan)
    run.start()
    run.tick(HEALTHY, seconds=5)
    assert run.last.events[0].reason == "StageStarted"
    return run


@pytest.mark.parametrize("strategy", [StrategyKind.BLUE_GREEN, StrategyKind.SHADOW, StrategyKind.AB_TEST])
def test_a_failing_candidate_is_rolled_back_within_a_peek_of_its_first_traffic(
    strategy: StrategyKind,
) -> None:
    """Half its requests failing: weight stays 0, the version is rejected, no full window waited for."""
    run = started(RolloutPlan(strategy=strategy, auto_promote=True, stage_duration_seconds=600))
    final = run.until_done(HALF_FAILING)
    assert final.state.phase is Phase.ROLLED_BACK and final.reject_canary
    assert run.clock - 5 <= PEEK_SECONDS
    assert final.mirror_percent == 0 and not final.route_matched_to_canary


def test_blue_green_preview_gets_no_user_traffic() -> None:
    """Blue-green analyses the preview while users stay 100% on stable."""
    run = started(
        RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True, stage_duration_seconds=600)
    )
    for _ in range(10):
        decision = run.follow(HEALTHY)
        assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.state.phase is Phase.PROGRESSING


def test_stage_is_not_promoted_before_its_duration() -> None:
    """Passing windows before `duration` elapsed keep the stage running; the message names the duration."""
    run = started(RolloutPlan(strategy=StrategyKind.AB_TEST, auto_promote=True, stage_duration_seconds=600))
    passed = run.until(lambda d: d.verdict is not None, HEALTHY)
    assert passed.state.phase is Phase.PROGRESSING
    assert "stage runs 10m in all" in passed.state.message
    promoting = run.until(lambda d: d.state.phase is Phase.PROMOTING, HEALTHY)
    assert run.clock - 5 >= 600
    assert promoting.verdict is not None


def test_stage_promotes_only_once_a_regression_is_ruled_out() -> None:
    """After its duration the stage still waits for the evidence gate (as the canary's last split step)."""
    run = started(RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True, stage_duration_seconds=60))
    run.until(lambda d: d.state.phase is Phase.PROMOTING, HEALTHY)
    gathering = [d for d in run.decisions if d.state.message.startswith("waiting: gathering evidence")]
    assert gathering and evidence_gap(run.policy, gathering[0].state.evidence) is not None
    assert evidence_gap(run.policy, run.state.evidence) is None


def test_blue_green_cuts_users_over_before_moving_stable() -> None:
    """Promotion sends 100% to the Ready preview first, and only then moves the stable Deployment."""
    run = started(RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True))
    promoting = run.until(lambda d: d.state.phase is Phase.PROMOTING, HEALTHY)
    assert promoting.canary_weight == 0 and promoting.stable_deployment_version == "6"
    not_ready = run.follow(replace(HEALTHY, ready=False, promoted=False))
    assert not_ready.canary_weight == 0 and not_ready.stable_deployment_version == "6"
    cut_over = run.follow(replace(HEALTHY, promoted=False))
    assert cut_over.canary_weight == 100 and cut_over.stable_deployment_version == "7"
    assert cut_over.events[0].reason == "TrafficShifted"
    done = run.follow(HEALTHY)
    assert done.state.phase is Phase.SUCCEEDED and done.stable_weight == 100


def test_blue_green_without_auto_promote_waits_for_promote() -> None:
    """Without autoPromote a passing preview waits for `promote`; resume does not promote."""
    plan = RolloutPlan(strategy=StrategyKind.BLUE_GREEN)
    run = started(plan)
    waiting = run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    assert waiting.state.pause_reason is PauseReason.AWAITING_PROMOTION
    assert waiting.events[0].reason == "AwaitingPromotion"
    resumed = apply_action(waiting.state, plan, RolloutAction.RESUME, at(run.clock))
    assert resumed.events[0].reason == "ActionIgnored" and resumed.state == waiting.state
    promoted = apply_action(waiting.state, plan, RolloutAction.PROMOTE, at(run.clock))
    assert promoted.state.phase is Phase.PROMOTING and promoted.canary_weight == 0


def test_shadow_mirrors_while_active_and_never_weights_users() -> None:
    """Shadow copies mirrorPercent of requests to the candidate once it is Ready; user weight stays 0."""
    run = Run(plan=RolloutPlan(strategy=StrategyKind.SHADOW, mirror_percent=20, stage_duration_seconds=300))
    assert run.start().mirror_percent == 0
    decision = run.tick(HEALTHY, seconds=5)
    assert decision.mirror_percent == 20 and decision.canary_weight == 0
    assert "mirroring 20% of requests to 7" in decision.events[0].message


def test_shadow_success_waits_for_promote_by_default_and_keeps_mirroring() -> None:
    """Mirrored traffic never proves clients accept new answers: without autoPromote, shadow waits."""
    run = started(RolloutPlan(strategy=StrategyKind.SHADOW, stage_duration_seconds=60))
    decision = run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    assert decision.state.pause_reason is PauseReason.AWAITING_PROMOTION and decision.mirror_percent == 100


def test_ab_routes_matched_requests_until_promoted() -> None:
    """A/B routes header/cookie-matched requests to the candidate while active and while promoting."""
    run = Run(plan=RolloutPlan(strategy=StrategyKind.AB_TEST, auto_promote=True, stage_duration_seconds=30))
    assert not run.start().route_matched_to_canary
    assert run.tick(HEALTHY, seconds=5).route_matched_to_canary
    promoting = run.until(lambda d: d.state.phase is Phase.PROMOTING, replace(HEALTHY, promoted=False))
    assert promoting.route_matched_to_canary
    done = run.follow(HEALTHY)
    assert done.state.phase is Phase.SUCCEEDED and not done.route_matched_to_canary


def test_stage_candidate_never_ready_fails_after_the_deadline() -> None:
    """Single-stage strategies also fail cleanly when the candidate never becomes Ready."""
    run = Run(plan=RolloutPlan(strategy=StrategyKind.SHADOW))
    run.start()
    final = run.until_done(replace(HEALTHY, ready=False))
    assert final.state.phase is Phase.DEGRADED and final.events[0].reason == "ProgressDeadlineExceeded"
    assert not final.reject_canary


def test_stage_waiting_for_promote_still_rolls_back_when_it_turns_bad() -> None:
    """While a passed stage waits for a person, the judge keeps watching and can still roll back."""
    run = started(RolloutPlan(strategy=StrategyKind.AB_TEST))
    run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    final = run.until_done(Turning(HEALTHY, HALF_FAILING, at(run.clock)))
    assert final.state.phase is Phase.ROLLED_BACK and final.reject_canary
