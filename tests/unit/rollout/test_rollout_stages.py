"""Blue-green, shadow and A/B: one analysis stage without user-traffic weight, then promote."""

from __future__ import annotations

from datetime import datetime

import pytest
from rollout_fixtures import Run, at, healthy, observe

from ferryman.rollout import (
    Observation,
    PauseReason,
    Phase,
    RolloutAction,
    RolloutPlan,
    RolloutState,
    StrategyKind,
    apply_action,
)

pytestmark = pytest.mark.unit


def bad(state: RolloutState, now: datetime) -> Observation:
    return observe(state, now, canary=(1000, 41))


def started(plan: RolloutPlan) -> Run:
    run = Run(plan=plan)
    run.start()
    run.tick(healthy, seconds=5)
    return run


def test_blue_green_preview_gets_no_user_traffic() -> None:
    """Blue-green analyses the preview while users stay 100% on stable."""
    run = started(
        RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True, stage_duration_seconds=600)
    )
    assert run.last.events[0].reason == "StageStarted"
    for _ in range(2):
        decision = run.tick(healthy)
        assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.state.phase is Phase.PROGRESSING


def test_blue_green_auto_promotes_after_pass_and_delay() -> None:
    """With autoPromote, a pass after autoPromoteAfter starts the promotion."""
    run = started(RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True, stage_duration_seconds=60))
    run.tick(healthy)
    promoting = run.tick(healthy)
    assert promoting.state.phase is Phase.PROMOTING
    assert run.tick(healthy).state.phase is Phase.SUCCEEDED


def test_blue_green_cuts_users_over_before_moving_stable() -> None:
    """Promotion sends 100% to the Ready preview first, and only then moves the stable Deployment."""
    run = started(RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True))
    promoting = run.tick(healthy)
    assert promoting.state.phase is Phase.PROMOTING
    assert promoting.canary_weight == 0 and promoting.stable_deployment_version == "6"
    assert not promoting.promote_canary
    not_ready = run.tick(lambda s, now: observe(s, now, ready=False), seconds=5)
    assert not_ready.canary_weight == 0
    cut_over = run.tick(lambda s, now: observe(s, now), seconds=5)
    assert cut_over.canary_weight == 100 and cut_over.stable_deployment_version == "7"
    assert cut_over.promote_canary
    done = run.tick(healthy, seconds=5)
    assert done.state.phase is Phase.SUCCEEDED and done.stable_weight == 100


def test_blue_green_without_auto_promote_waits_for_promote() -> None:
    """Without autoPromote, a passing preview waits for `promote`; resume does not promote."""
    plan = RolloutPlan(strategy=StrategyKind.BLUE_GREEN)
    run = started(plan)
    waiting = run.tick(healthy)
    assert waiting.state.phase is Phase.PAUSED
    assert waiting.state.pause_reason is PauseReason.AWAITING_PROMOTION
    assert (
        apply_action(waiting.state, plan, RolloutAction.RESUME, at(100)).events[0].reason == "ActionIgnored"
    )
    promoted = apply_action(waiting.state, plan, RolloutAction.PROMOTE, at(100))
    assert promoted.state.phase is Phase.PROMOTING and promoted.canary_weight == 0


def test_blue_green_failing_preview_rolls_back() -> None:
    """A preview that fails analysis failureLimit times is rolled back and rejected."""
    run = started(RolloutPlan(strategy=StrategyKind.BLUE_GREEN, auto_promote=True))
    final = run.until_done(bad)
    assert final.state.phase is Phase.ROLLED_BACK and final.reject_canary


def test_shadow_mirrors_while_active_and_never_weights_users() -> None:
    """Shadow copies mirrorPercent of requests to the canary; user weight stays 0."""
    plan = RolloutPlan(strategy=StrategyKind.SHADOW, mirror_percent=20, stage_duration_seconds=300)
    run = Run(plan=plan)
    assert run.start().mirror_percent == 0  # not before the canary is Ready
    decision = run.tick(healthy, seconds=5)
    assert decision.mirror_percent == 20 and decision.canary_weight == 0
    assert "mirroring 20% of requests to 7" in decision.events[0].message


def test_shadow_success_waits_for_promote_by_default() -> None:
    """Mirrored traffic never proves clients accept new answers: without autoPromote, shadow waits."""
    plan = RolloutPlan(strategy=StrategyKind.SHADOW, stage_duration_seconds=60)
    run = started(plan)
    run.tick(healthy)
    decision = run.tick(healthy)
    assert decision.state.phase is Phase.PAUSED and decision.mirror_percent == 100


def test_shadow_failure_stops_mirroring() -> None:
    """A failing shadow is rolled back and mirroring stops."""
    run = started(RolloutPlan(strategy=StrategyKind.SHADOW))
    final = run.until_done(bad)
    assert final.state.phase is Phase.ROLLED_BACK and final.mirror_percent == 0


def test_ab_routes_matched_requests_until_promoted() -> None:
    """A/B routes header/cookie-matched requests to the canary while active and while promoting."""
    plan = RolloutPlan(strategy=StrategyKind.AB_TEST, auto_promote=True, stage_duration_seconds=30)
    run = Run(plan=plan)
    assert not run.start().route_matched_to_canary
    assert run.tick(healthy, seconds=5).route_matched_to_canary
    promoting = run.tick(healthy)
    assert promoting.state.phase is Phase.PROMOTING and promoting.route_matched_to_canary
    done = run.tick(healthy)
    assert done.state.phase is Phase.SUCCEEDED and not done.route_matched_to_canary


def test_stage_is_not_promoted_before_its_duration() -> None:
    """Passing windows before `duration` elapsed keep the stage running."""
    plan = RolloutPlan(strategy=StrategyKind.AB_TEST, auto_promote=True, stage_duration_seconds=600)
    run = started(plan)
    for _ in range(5):
        decision = run.tick(healthy)
    assert decision.state.phase is Phase.PROGRESSING
    assert "of 10m left" in decision.state.message


def test_stage_canary_never_ready_fails_after_the_deadline() -> None:
    """Single-stage strategies also fail cleanly when the candidate never becomes Ready."""
    run = Run(plan=RolloutPlan(strategy=StrategyKind.SHADOW))
    run.start()
    final = run.until_done(lambda s, now: observe(s, now, ready=False), seconds=5)
    assert final.state.phase is Phase.DEGRADED
    assert final.events[0].reason == "ProgressDeadlineExceeded"


def test_stage_waiting_for_promote_still_rolls_back_when_it_turns_bad() -> None:
    """While a passed stage waits for a person, the judge keeps watching and can still roll back."""
    run = started(RolloutPlan(strategy=StrategyKind.AB_TEST))
    assert run.tick(healthy).state.phase is Phase.PAUSED
    run.tick(bad)
    assert run.tick(bad).state.phase is Phase.ROLLED_BACK
