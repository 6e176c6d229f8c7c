"""Manual control through `ferryman.dev/action`: promote, abort, resume."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rollout_fixtures import HEALTHY, Run, at

from ferryman.rollout import (
    EventType,
    PauseStep,
    Phase,
    RolloutAction,
    RolloutPlan,
    WeightStep,
    apply_action,
    parse_action,
)

pytestmark = pytest.mark.unit

PAUSING = RolloutPlan(steps=(WeightStep(10), PauseStep(None), WeightStep(50), WeightStep(100)))


def paused_run() -> Run:
    run = Run(plan=PAUSING)
    run.start()
    run.tick(HEALTHY, seconds=5)
    run.until(lambda d: d.state.phase is Phase.PAUSED, HEALTHY)
    return run


def test_abort_returns_all_traffic_to_stable_at_once() -> None:
    """abort: weight 0 immediately, RolledBack, Warning Event, the version is rejected."""
    run = paused_run()
    decision = apply_action(run.last.state, PAUSING, RolloutAction.ABORT, at(100))
    assert decision.state.phase is Phase.ROLLED_BACK
    assert (decision.canary_weight, decision.stable_weight) == (0, 100)
    assert decision.events[0].type is EventType.WARNING and decision.events[0].reason == "Aborted"
    assert decision.reject_canary and decision.canary_deployment_version is None
    # The canary's pods stay for the scale-down delay; the handler comes back then to retire them.
    assert decision.state.canary_retire_at == at(100 + PAUSING.canary_scale_down_delay_seconds)
    assert decision.requeue_after_seconds == PAUSING.canary_scale_down_delay_seconds


def test_promote_skips_the_remaining_steps() -> None:
    """promote: straight to Promoting, whatever step the rollout was on."""
    run = paused_run()
    decision = apply_action(run.last.state, PAUSING, RolloutAction.PROMOTE, at(100))
    assert decision.state.phase is Phase.PROMOTING
    assert decision.stable_deployment_version == "7"
    assert "remaining steps skipped" in decision.events[0].message


def test_resume_leaves_a_manual_pause_and_enters_the_next_step() -> None:
    """resume: the paused step ends; the next weight is applied once the canary is seen Ready."""
    run = paused_run()
    resumed = apply_action(run.last.state, PAUSING, RolloutAction.RESUME, at(100))
    assert resumed.state.phase is Phase.PROGRESSING
    assert resumed.state.current_step_index == 2
    assert resumed.requeue_after_seconds == 1.0
    run.decisions.append(resumed)
    run.clock = 101
    assert run.tick(HEALTHY, seconds=1).canary_weight == 50


def test_resume_when_not_paused_is_ignored_with_an_event() -> None:
    """An action that does not apply changes nothing and says why."""
    run = Run()
    state = run.start().state
    decision = apply_action(state, run.plan, RolloutAction.RESUME, at(1))
    assert decision.state == state
    assert decision.events[0].reason == "ActionIgnored"
    assert "not paused" in decision.events[0].message


def test_actions_on_a_finished_rollout_are_ignored() -> None:
    """Terminal phases stay terminal until a new version arrives; an action changes nothing but says so."""
    run = paused_run()
    aborted = apply_action(run.last.state, PAUSING, RolloutAction.ABORT, at(100)).state
    retired = replace(aborted, canary_retire_at=None)
    for action in RolloutAction:
        for state in (aborted, retired):
            decision = apply_action(state, PAUSING, action, at(200))
            assert decision.state == state and decision.events[0].reason == "ActionIgnored"
            assert not decision.reject_canary
        assert apply_action(retired, PAUSING, action, at(200)).requeue_after_seconds is None


def test_promote_while_promoting_is_ignored() -> None:
    """A second promote does not restart the promotion deadline."""
    run = paused_run()
    promoting = apply_action(run.last.state, PAUSING, RolloutAction.PROMOTE, at(100)).state
    again = apply_action(promoting, PAUSING, RolloutAction.PROMOTE, at(150))
    assert again.state == promoting


def test_parse_action_accepts_the_three_verbs() -> None:
    """Annotation values are case-insensitive and trimmed."""
    assert parse_action(" Promote ") is RolloutAction.PROMOTE
    assert parse_action("abort") is RolloutAction.ABORT


def test_parse_action_rejects_unknown_values_naming_the_annotation() -> None:
    """A typo gets an error that names the annotation and the valid choices."""
    with pytest.raises(
        ValueError, match=r"ferryman.dev/action: 'promte' is not one of promote, abort, resume"
    ):
        parse_action("promte")


def test_abort_while_promoting_moves_stable_back() -> None:
    """Aborting a promotion points the stable Deployment at the old version again."""
    run = paused_run()
    promoting = apply_action(run.last.state, PAUSING, RolloutAction.PROMOTE, at(100))
    assert promoting.stable_deployment_version == "7"
    aborted = apply_action(promoting.state, PAUSING, RolloutAction.ABORT, at(110))
    assert aborted.state.phase is Phase.ROLLED_BACK
    assert aborted.stable_deployment_version == "6" and aborted.canary_deployment_version is None
