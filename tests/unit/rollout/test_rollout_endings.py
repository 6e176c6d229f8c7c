"""How a rollout ends: the canary's retirement after the scale-down delay, absorbing terminal phases,
and the conditions a finished (or running) rollout reports."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_fixtures import HEALTHY, Run, Traffic, at

from ferryman.rollout import (
    Phase,
    RolloutPlan,
    RolloutState,
    StrategyKind,
    WeightStep,
    conditions_for,
    next_step,
)

pytestmark = pytest.mark.unit

DELAY = 30.0


def rolled_back() -> Run:
    run = Run(plan=RolloutPlan(canary_scale_down_delay_seconds=DELAY))
    run.start()
    run.tick(HEALTHY, seconds=5)
    run.until_done(Traffic(canary_errors=0.5))
    return run


def test_a_finished_rollout_keeps_the_canary_pods_for_the_scale_down_delay() -> None:
    """Weight 0 at once, but the pods stay until now + canaryScaleDownDelay (in-flight requests)."""
    run = rolled_back()
    ended = run.last
    assert ended.canary_weight == 0 and ended.canary_deployment_version is None
    assert ended.state.canary_retire_at == at(run.clock + DELAY)
    assert not ended.scale_canary_down
    assert ended.requeue_after_seconds == DELAY


def test_before_the_delay_nothing_changes_and_the_handler_comes_back_when_it_ends() -> None:
    """A look during the delay changes nothing and asks to come back exactly when the delay ends."""
    run = rolled_back()
    ended = run.state
    early = run.tick(HEALTHY, seconds=12)
    assert early.state == ended and early.events == () and not early.scale_canary_down
    assert early.requeue_after_seconds == DELAY - 12


def test_after_the_delay_the_canary_is_scaled_down_and_nothing_is_left_to_do() -> None:
    """Once the delay is over: retire time cleared, scale_canary_down, no requeue; then absorbing."""
    run = rolled_back()
    retired = run.follow(HEALTHY)
    assert retired.state == replace(run.decisions[-2].state, canary_retire_at=None)
    assert retired.scale_canary_down and retired.requeue_after_seconds is None and retired.events == ()
    again = next_step(retired.state, run.plan, run.policy, HEALTHY(retired.state, at(99_999)), at(99_999))
    assert again.state == retired.state and again.events == () and again.requeue_after_seconds is None
    assert again.scale_canary_down


def test_a_promoted_rollout_retires_the_canary_too() -> None:
    """After promotion stable runs the new version; the canary Deployment's pods go after the delay."""
    run = Run(plan=RolloutPlan(steps=(WeightStep(100),), canary_scale_down_delay_seconds=DELAY))
    run.start()
    done = run.until_done(HEALTHY)
    assert done.state.phase is Phase.SUCCEEDED and done.state.canary_retire_at == at(run.clock + DELAY)
    assert run.follow(HEALTHY).scale_canary_down


def test_terminal_phases_absorb_every_observation() -> None:
    """After RolledBack no observation moves weights, phase or versions, and no Event is emitted."""
    run = rolled_back()
    ended = run.state
    for traffic in (HEALTHY, Traffic(canary_errors=0.5), Traffic(error="down"), Traffic(ready=False)):
        decision = next_step(
            ended, run.plan, run.policy, traffic(ended, at(run.clock + 1)), at(run.clock + 1)
        )
        assert decision.state == ended and decision.events == () and not decision.reject_canary


def state_in(phase: Phase, **changes: object) -> RolloutState:
    base = RolloutState(phase=phase, strategy=StrategyKind.CANARY, stable_version="6", canary_version="7")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phase", "ready", "progressing", "degraded"),
    [
        (Phase.PROGRESSING, ("False", "RolloutInProgress"), "True", ("False", "Healthy")),
        (Phase.PAUSED, ("False", "RolloutInProgress"), "True", ("False", "Healthy")),
        (Phase.PROMOTING, ("False", "RolloutInProgress"), "True", ("False", "Healthy")),
        (Phase.SUCCEEDED, ("True", "Succeeded"), "False", ("False", "Healthy")),
        (Phase.ROLLED_BACK, ("False", "RolledBack"), "False", ("True", "RolledBack")),
        (Phase.DEGRADED, ("False", "Degraded"), "False", ("True", "Degraded")),
    ],
)
def test_conditions_follow_the_phase_so_they_never_disagree(
    phase: Phase, ready: tuple[str, str], progressing: str, degraded: tuple[str, str]
) -> None:
    """Ready, Progressing and Degraded are derived from the phase alone."""
    found = {c.type: c for c in conditions_for(state_in(phase, message="why"))}
    assert (found["Ready"].status, found["Ready"].reason) == ready
    assert found["Progressing"].status == progressing
    assert (found["Degraded"].status, found["Degraded"].reason) == degraded
    assert {c.message for c in found.values() if c.type != "MetricsAvailable"} == {"why"}


def test_metrics_available_reports_failed_reads() -> None:
    """MetricsAvailable is False while metric reads fail in a row, with the reason and the message."""
    failing = {c.type: c for c in conditions_for(state_in(Phase.PROGRESSING, analysis_errors=2, message="x"))}
    assert (failing["MetricsAvailable"].status, failing["MetricsAvailable"].reason) == (
        "False",
        "MetricsUnavailable",
    )
    fine = {c.type: c for c in conditions_for(state_in(Phase.PROGRESSING))}
    assert fine["MetricsAvailable"].status == "True"
