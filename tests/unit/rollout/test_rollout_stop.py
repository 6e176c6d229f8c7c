"""Stopping a rollout that can no longer be judged (its spec became invalid mid-rollout)."""

from __future__ import annotations

import pytest
from rollout_fixtures import HEALTHY, Run, at

from ferryman.rollout import Phase, RolloutState, stop_rollout

pytestmark = pytest.mark.unit


def test_stop_sends_all_traffic_back_to_stable_without_rejecting() -> None:
    """A canary with user traffic goes to weight 0, Degraded, with a Warning that says why; not rejected."""
    run = Run()
    run.start()
    run.until(lambda d: d.canary_weight > 0, HEALTHY)
    why = "spec.strategy.canary.interval: 0s is invalid"
    decision = stop_rollout(run.state, run.plan, why, at(run.clock + 1))
    assert decision.canary_weight == 0 and decision.state.phase is Phase.DEGRADED
    assert not decision.reject_canary
    # status.endReason lets the registry link tell it from a judged ending (it was rejecting the canary)
    assert decision.state.to_status()["endReason"] == "RolloutStopped"
    assert RolloutState.from_status(decision.state.to_status()).end_reason == "RolloutStopped"
    (event,) = decision.events
    assert event.type == "Warning" and "interval: 0s is invalid" in event.message


def test_stop_leaves_a_finished_rollout_alone() -> None:
    """Nothing to stop after the rollout ended: same state, no Event."""
    run = Run()
    run.start()
    done = run.until_done(HEALTHY)
    decision = stop_rollout(done.state, run.plan, "anything", at(run.clock + 1))
    assert decision.state == done.state and decision.events == ()
