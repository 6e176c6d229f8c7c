"""RolloutState survives `.status`; plans and policies reject bad values naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_fixtures import Run, at, healthy

from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    Outcome,
    PauseStep,
    Phase,
    PlanError,
    RolloutPlan,
    RolloutState,
    StatusError,
    StrategyKind,
    TrackSample,
    WeightStep,
    conditions_status,
)
from ferryman.rollout.formatting import format_duration, format_latency, format_percent

pytestmark = pytest.mark.unit


def test_status_round_trips_through_json() -> None:
    """to_status is JSON-ready and from_status restores the identical state (resume after a crash)."""
    run = Run()
    run.start()
    run.tick(healthy, seconds=5)
    state = run.tick(healthy).state
    status = json.loads(json.dumps(state.to_status()))
    assert RolloutState.from_status(status) == state


def test_status_uses_camel_case_keys_and_utc_timestamps() -> None:
    """Keys match the CRD's status fields; timestamps are RFC 3339 with a Z."""
    status = Run().start().state.to_status()
    assert status["phase"] == "Progressing" and status["canaryWeight"] == 0
    assert status["currentStep"] == 0 and status["stableVersion"] == "6"
    assert status["rolloutStartedAt"] == "2026-11-23T11:00:00Z"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"phase": "Running"}, "status.phase: 'Running' is not one of Pending, Progressing"),
        ({"canaryWeight": 120}, "status.canaryWeight: 120 is outside 0..100"),
        ({"canaryWeight": "5"}, "status.canaryWeight: '5' is not an integer"),
        ({"stepStartedAt": "yesterday"}, "status.stepStartedAt: 'yesterday' is not an ISO-8601 timestamp"),
        ({"stepStartedAt": "2026-01-01T00:00:00"}, "status.stepStartedAt: .* has no timezone"),
        ({"stableVersion": None}, "status.stableVersion: missing"),
    ],
)
def test_bad_status_is_reported_with_the_field_name(patch: dict[str, Any], message: str) -> None:
    """A hand-edited or corrupt status gives an error naming the field, not a crash."""
    status = {**Run().start().state.to_status(), **patch}
    with pytest.raises(StatusError, match=message):
        RolloutState.from_status(status)


def test_older_status_without_optional_keys_still_loads() -> None:
    """Keys added later default, so an upgraded operator resumes an older rollout."""
    state = RolloutState.from_status(
        {"phase": "Progressing", "strategy": "canary", "stableVersion": "6", "canaryVersion": "7"}
    )
    assert state.phase is Phase.PROGRESSING and state.window_started_at is None


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: WeightStep(120), r"strategy.canary.steps\[\].weight"),
        (lambda: PauseStep(-1), r"strategy.canary.steps\[\].pause.duration"),
        (lambda: RolloutPlan(steps=()), "strategy.canary.steps"),
        (lambda: RolloutPlan(interval_seconds=0), "strategy.interval"),
        (lambda: RolloutPlan(mirror_percent=101), "strategy.shadow.mirrorPercent"),
        (lambda: AnalysisPolicy(max_error_rate=5), "analysis.maxErrorRate"),
        (lambda: AnalysisPolicy(failure_limit=0), "analysis.failureLimit"),
        (lambda: AnalysisPolicy(min_requests=0), "analysis.minRequests"),
        (lambda: CustomCheck("x"), r"analysis.metrics\[x\]"),
        (lambda: CustomCheck("x", min_value=2, max_value=1), r"analysis.metrics\[x\]"),
    ],
)
def test_bad_plan_values_name_the_field(build: Any, field: str) -> None:
    """Out-of-range knobs raise PlanError naming the spec field and the fix."""
    with pytest.raises(PlanError, match=field):
        build()


def test_negative_counts_are_rejected() -> None:
    """An observation with a negative count is a handler bug: fail loudly, naming the field."""
    with pytest.raises(ValueError, match=r"observation\.requests"):
        TrackSample(-1, 0)


def test_strategy_values_match_the_crd_keys() -> None:
    """The strategy kind is stored under the same names the spec uses."""
    assert [kind.value for kind in StrategyKind] == ["canary", "blueGreen", "shadow", "abTest"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (120, "2m"), (90, "1m30s"), (3600, "1h"), (3900, "1h5m")]
)
def test_durations_read_like_kubectl(seconds: float, text: str) -> None:
    """Durations in messages look like the spec's own values."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(0.041, "4.1%"), (0.003, "0.3%"), (0.01, "1%"), (0.25, "25%"), (0.0, "0%")]
)
def test_percentages_are_short(fraction: float, text: str) -> None:
    """Rates are printed the way a person would write them."""
    assert format_percent(fraction) == text


def test_latency_prints_milliseconds_below_a_second() -> None:
    """820ms, not 0.82s."""
    assert (format_latency(0.82), format_latency(1.5)) == ("820ms", "1.5s")


def test_condition_transition_time_moves_only_when_status_flips() -> None:
    """lastTransitionTime keeps its value while a condition's status stays the same."""
    run = Run()
    first = conditions_status(run.start().conditions, [], at(0))
    assert {c["lastTransitionTime"] for c in first} == {"2026-11-23T11:00:00Z"}
    run.tick(healthy, seconds=5)
    run.tick(healthy)
    same = conditions_status(run.last.conditions, first, at(35))
    assert [c["lastTransitionTime"] for c in same] == [c["lastTransitionTime"] for c in first]
    done = run.until_done(healthy)
    flipped = {c["type"]: c for c in conditions_status(done.conditions, same, at(999))}
    assert flipped["Ready"]["status"] == "True"
    assert flipped["Ready"]["lastTransitionTime"] == "2026-11-23T11:16:39Z"
    assert flipped["Degraded"]["lastTransitionTime"] == "2026-11-23T11:00:00Z"


def test_decisions_that_judge_carry_the_verdict() -> None:
    """The verdict of a judged window rides on the Decision (for status.lastAnalysis)."""
    run = Run()
    assert run.start().verdict is None
    run.tick(healthy, seconds=5)
    judged = run.tick(healthy)
    assert judged.verdict is not None and judged.verdict.outcome is Outcome.PASS
