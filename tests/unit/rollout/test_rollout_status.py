"""RolloutState survives `.status`; plans and policies reject bad values naming the field."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from rollout_fixtures import HEALTHY, Run, at

from ferryman.api.vocabulary import DEFAULT_CANARY_WEIGHTS, format_timestamp
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
    Tally,
    TrackSample,
    WeightStep,
)
from ferryman.rollout.formatting import format_duration, format_latency, format_percent

pytestmark = pytest.mark.unit


def test_status_round_trips_through_json_evidence_included() -> None:
    """to_status is JSON-ready and from_status restores the identical state, evidence and all."""
    run = Run()
    run.start()
    run.until(lambda d: d.state.current_step_index == 2, HEALTHY)
    state = run.state
    assert state.evidence["errorRate"].canary_total > 0 and any(state.evidence["errorRate"].log_e)
    status = json.loads(json.dumps(state.to_status()))
    assert RolloutState.from_status(status) == state


def test_a_restart_mid_rollout_resumes_with_the_same_evidence_and_decisions() -> None:
    """An operator that reads its memory back from `.status` before every step decides exactly alike."""
    in_memory = Run()
    in_memory.start()
    from_status = Run()
    from_status.start()
    for _ in range(40):
        in_memory.follow(HEALTHY)
        restarted = RolloutState.from_status(json.loads(json.dumps(from_status.state.to_status())))
        from_status.decisions[-1] = replace(from_status.last, state=restarted)
        from_status.follow(HEALTHY)
    assert [d.state for d in from_status.decisions] == [d.state for d in in_memory.decisions]
    assert in_memory.state.evidence["errorRate"].canary_total > 0


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
        ({"lastVerdict": "Wait"}, "status.lastVerdict: 'Wait' is not one of Pass, Fail, Inconclusive"),
        ({"evidence": {"errorRate": {"canary": [5, 2]}}}, r"status.evidence.errorRate: .*0 <= bad <= total"),
        ({"evidence": {"errorRate": {"logE": [1.0]}}}, r"status.evidence.errorRate: .*expected 6"),
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
        (lambda: AnalysisPolicy(significance=0), "analysis.significance"),
        (lambda: AnalysisPolicy(miss_rate=0.5), "analysis.missRate"),
        (lambda: AnalysisPolicy(detect_ratio=1), "analysis.detectRatio"),
        (lambda: AnalysisPolicy(analysis_error_limit=0), "analysis.analysisErrorLimit"),
        (lambda: RolloutPlan(canary_scale_down_delay_seconds=-1), "canaryScaleDownDelay"),
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
        TrackSample(-1)
    with pytest.raises(ValueError, match=r"tally\.bad"):
        Tally(-1, 10)


def test_defaults_are_the_vocabulary_defaults() -> None:
    """A plan and policy left to defaults are what the CRD and docs promise (api/vocabulary.py)."""
    plan, policy = RolloutPlan(), AnalysisPolicy()
    assert (
        plan.steps
        == tuple(WeightStep(w) for w in DEFAULT_CANARY_WEIGHTS)
        == tuple(WeightStep(w) for w in (5, 25, 50, 100))
    )
    assert (plan.interval_seconds, plan.progress_deadline_seconds, plan.no_traffic_deadline_seconds) == (
        30,
        600,
        1800,
    )
    assert plan.canary_scale_down_delay_seconds == 10
    assert (policy.max_error_rate, policy.max_latency_p99_seconds, policy.min_requests) == (0.01, 0.5, 100)
    assert (policy.failure_limit, policy.analysis_error_limit, policy.significance) == (2, 4, 0.005)


def test_the_evidence_step_is_the_last_step_that_splits_traffic() -> None:
    """The gate sits on the last weight strictly between 0 and 100; a plan without one has none."""
    assert RolloutPlan().evidence_step_index == 2
    steps = (WeightStep(10), PauseStep(None), WeightStep(40), PauseStep(60), WeightStep(100))
    assert RolloutPlan(steps=steps).evidence_step_index == 2
    assert RolloutPlan(steps=(WeightStep(100),)).evidence_step_index is None


def test_timestamps_are_whole_seconds_in_utc() -> None:
    """One timestamp form in status: RFC 3339, UTC, no fractions (metav1.Time)."""
    run = Run()
    run.start()
    shifted = run.tick(HEALTHY, seconds=5.75)
    assert shifted.state.window_started_at == at(5.75)
    assert shifted.state.to_status()["windowStartedAt"] == "2026-11-23T11:00:05Z"
    assert format_timestamp(at(5.75)) == "2026-11-23T11:00:05Z"


def test_strategy_values_match_the_crd_keys() -> None:
    """The strategy kind is stored under the same names the spec uses."""
    assert [kind.value for kind in StrategyKind] == ["canary", "blueGreen", "shadow", "abTest"]


def test_verdict_words_are_the_same_in_status_and_last_analysis() -> None:
    """One vocabulary: a window is Pass, Fail or Inconclusive wherever it is shown."""
    assert [outcome.value for outcome in Outcome] == ["Pass", "Fail", "Inconclusive"]


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


def test_decisions_that_judge_carry_the_verdict() -> None:
    """The verdict of a judged window rides on the Decision (for status.lastAnalysis); a peek has none."""
    run = Run()
    assert run.start().verdict is None
    run.tick(HEALTHY, seconds=5)
    assert run.follow(HEALTHY).verdict is None
    judged = run.until(lambda d: d.state.current_step_index == 1, HEALTHY)
    assert judged.verdict is not None and judged.verdict.outcome is Outcome.PASS
