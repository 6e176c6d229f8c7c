"""Pure pieces between the CRD and the rollout state machine: plans, version changes, traffic, objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ferryman.api import ModelDeployment
from ferryman.builders.rollout_objects import (
    analysis_record,
    build_rollout_objects,
    model_uri_of,
    rollout_status,
)
from ferryman.builders.rollout_plan import build_rollout_plan, fallback_inputs, rollout_inputs
from ferryman.builders.traffic import TrafficSplit, build_http_route
from ferryman.builders.traffic.replicas import replica_split
from ferryman.builders.version_change import VersionChange, classify_version_change
from ferryman.config import Settings
from ferryman.rollout import (
    DEFAULT_STEPS,
    AnalysisPolicy,
    CustomCheck,
    Observation,
    Outcome,
    PauseStep,
    RolloutAction,
    StrategyKind,
    TrackSample,
    WeightStep,
    apply_action,
    next_step,
    start_rollout,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GATEWAY = {"mode": "gateway", "gateway": {"parentRefs": [{"name": "web", "namespace": "infra"}]}}


def model_deployment(strategy: dict[str, Any], traffic: dict[str, Any] | None = None) -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": "risk", "uid": "u1", "generation": 2},
            "spec": {
                "model": {"uri": "file:///models/v2.onnx"},
                "serving": {"replicas": 3},
                "traffic": traffic or GATEWAY,
                "strategy": strategy,
            },
        }
    )


CANARY = {"canary": {"steps": [{"weight": 10}, {"pause": {"duration": "1m"}}, {"pause": {}}, {"weight": 50}]}}


def test_canary_spec_maps_onto_the_plan_and_policy() -> None:
    """Steps, pauses (timed or manual), interval and analysis thresholds reach the state machine."""
    inputs = rollout_inputs(model_deployment(CANARY), Settings())
    assert inputs is not None
    plan, policy = inputs
    assert plan.strategy is StrategyKind.CANARY
    assert plan.steps == (WeightStep(10), PauseStep(60.0), PauseStep(None), WeightStep(50))
    assert plan.interval_seconds == 30.0
    assert policy.max_error_rate == 0.01 and policy.max_latency_p99_seconds == 0.5
    assert policy.failure_limit == 2 and policy.min_requests == 100


def test_an_empty_canary_gets_the_documented_defaults() -> None:
    """`strategy: {canary: {}}` is valid: steps 5/25/50/100, interval 30s, deadlines 10m and 30m."""
    inputs = rollout_inputs(model_deployment({"canary": {}}), Settings())
    assert inputs is not None
    plan, policy = inputs
    assert plan.steps == DEFAULT_STEPS
    assert (plan.interval_seconds, plan.progress_deadline_seconds, plan.no_traffic_deadline_seconds) == (
        30,
        600,
        1800,
    )
    assert policy == AnalysisPolicy()


@pytest.mark.parametrize("strategy", [CANARY, {"blueGreen": {}}, {"shadow": {"duration": "5m"}}])
def test_the_canary_scale_down_delay_comes_from_the_operator_settings(strategy: dict[str, Any]) -> None:
    """The delay before a finished rollout's canary pods go is an operator setting carried by the plan."""
    md = model_deployment(strategy)
    assert md.spec.strategy is not None
    assert build_rollout_plan(md.spec.strategy, 42.0).canary_scale_down_delay_seconds == 42.0
    inputs = rollout_inputs(md, Settings(scale_down_delay_seconds=7))
    assert inputs is not None and inputs[0].canary_scale_down_delay_seconds == 7


def test_no_strategy_means_no_rollout() -> None:
    """Without spec.strategy a new model replaces the old one in place."""
    md = model_deployment(CANARY)
    md.spec.strategy = None
    assert rollout_inputs(md, Settings()) is None


@pytest.mark.parametrize(
    ("status", "desired", "has_strategy", "expected"),
    [
        ({}, "b", True, VersionChange.SERVE_IN_PLACE),
        ({"stableUri": "a", "phase": "Succeeded"}, "b", False, VersionChange.SERVE_IN_PLACE),
        ({"stableUri": "a", "phase": "Succeeded"}, "a", True, VersionChange.KEEP_STABLE),
        ({"stableUri": "a", "phase": "Succeeded"}, "b", True, VersionChange.START_ROLLOUT),
        ({"stableUri": "a", "phase": "Progressing", "canaryUri": "b"}, "b", True, VersionChange.CONTINUE),
        ({"stableUri": "a", "phase": "Paused", "canaryUri": "b"}, "c", True, VersionChange.REPLACE_CANARY),
        (
            {"stableUri": "a", "phase": "Progressing", "canaryUri": "b"},
            "a",
            True,
            VersionChange.ABORT_TO_STABLE,
        ),
        (
            {
                "stableUri": "a",
                "phase": "RolledBack",
                "canaryUri": "b",
                "canaryVersion": "2",
                "rejectedVersion": "2",
            },
            "b",
            True,
            VersionChange.KEEP_REJECTED,
        ),
        (
            {"stableUri": "a", "phase": "Degraded", "canaryUri": "b", "canaryVersion": "2"},
            "b",
            True,
            VersionChange.KEEP_STOPPED,
        ),
        ({"stableUri": "a", "phase": "RolledBack", "canaryUri": "b"}, "c", True, VersionChange.START_ROLLOUT),
        ({"stableUri": "a", "phase": "RolledBack", "canaryUri": "b"}, "a", True, VersionChange.KEEP_STABLE),
    ],
)
def test_spec_edits_are_classified(
    status: dict[str, Any], desired: str, has_strategy: bool, expected: VersionChange
) -> None:
    """A rolled-back version is not retried until the spec names another; reverting mid-rollout aborts."""
    assert classify_version_change(status, desired, has_strategy) is expected


@pytest.mark.parametrize("rejected", [True, False])
def test_an_edited_spec_retries_a_canary_that_stopped_unjudged_but_never_a_rejected_one(
    rejected: bool,
) -> None:
    """Not Ready in time, no traffic, an invalid spec: the next edit of the spec tries the version again.
    Judged bad or aborted (status.rejectedVersion): it stays rejected until the spec names another."""
    status = {"stableUri": "a", "phase": "Degraded", "canaryUri": "b", "canaryVersion": "2"}
    if rejected:
        status |= {"phase": "RolledBack", "rejectedVersion": "2"}
    change = classify_version_change(status, "b", True, spec_changed=True)
    assert change is (VersionChange.KEEP_REJECTED if rejected else VersionChange.START_ROLLOUT)


def test_a_rollout_whose_spec_cannot_be_read_is_stopped_with_the_strategy_it_ran() -> None:
    """fallback_inputs: the status's strategy and the operator's scale-down delay, default timings."""
    plan, _policy = fallback_inputs({"strategy": "shadow"}, Settings(scale_down_delay_seconds=3))
    assert plan.strategy is StrategyKind.SHADOW and plan.canary_scale_down_delay_seconds == 3


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [(3, 0, (3, 0)), (3, 25, (3, 1)), (3, 50, (3, 3)), (4, 20, (4, 1)), (3, 100, (3, 3)), (0, 50, (0, 1))],
)
def test_replica_ratio_keeps_stable_whole_and_approximates_the_weight(
    total: int, weight: int, expected: tuple[int, int]
) -> None:
    """Stable never scales down during a rollout; the canary gets about weight% of the pooled pods."""
    assert replica_split(total, weight) == expected


def test_http_route_weights_always_sum_to_100() -> None:
    """Both tracks are backends of one rule, weighted by the split."""
    md = model_deployment(CANARY)
    assert md.spec.traffic.gateway is not None
    route = build_http_route(md, md.spec.traffic.gateway, TrafficSplit(canary_weight=30))
    (rule,) = route["spec"]["rules"]
    weights = {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}
    assert weights == {"fraud-stable": 70, "fraud-canary": 30}
    assert route["spec"]["parentRefs"][0]["name"] == "web"
    assert route["metadata"]["ownerReferences"][0]["uid"] == "u1"


def test_shadow_uses_request_mirror_or_a_traefik_mirroring_service() -> None:
    """Gateways that implement RequestMirror get the filter; Traefik gets its own TraefikService."""
    shadow = {"shadow": {"mirrorPercent": 40, "duration": "5m"}}
    standard = model_deployment(shadow)
    assert standard.spec.traffic.gateway is not None
    rule = build_http_route(standard, standard.spec.traffic.gateway, TrafficSplit(0, mirror_percent=40))[
        "spec"
    ]["rules"][0]
    assert rule["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "fraud-canary", "port": 80}, "percent": 40},
        }
    ]
    traefik = model_deployment(
        shadow, {"mode": "gateway", "gateway": {**GATEWAY["gateway"], "mirrorWith": "TraefikService"}}
    )
    assert traefik.spec.traffic.gateway is not None
    rule = build_http_route(traefik, traefik.spec.traffic.gateway, TrafficSplit(0, mirror_percent=40))[
        "spec"
    ]["rules"][0]
    assert rule["backendRefs"] == [
        {"group": "traefik.io", "kind": "TraefikService", "name": "fraud-mirror", "weight": 100}
    ]
    assert "filters" not in rule


def test_ab_rule_routes_matching_requests_to_the_canary_first() -> None:
    """Header and cookie matches come before the catch-all rule; cookies become a Cookie-header regex."""
    ab = {
        "abTest": {
            "match": [
                {"headers": [{"name": "x-variant", "value": "b"}], "cookie": {"name": "grp", "value": "b"}}
            ]
        }
    }
    md = model_deployment(ab)
    assert md.spec.traffic.gateway is not None
    rules = build_http_route(md, md.spec.traffic.gateway, TrafficSplit(0, route_matched_to_canary=True))[
        "spec"
    ]["rules"]
    assert len(rules) == 2
    headers = rules[0]["matches"][0]["headers"]
    assert headers[0] == {"name": "x-variant", "value": "b", "type": "Exact"}
    assert headers[1]["name"] == "Cookie" and headers[1]["type"] == "RegularExpression"
    assert "grp=b" in headers[1]["value"]
    assert rules[0]["backendRefs"] == [{"name": "fraud-canary", "port": 80}]


def test_uris_are_found_by_version_in_the_status_decided_from() -> None:
    """At promotion the canary's version becomes stable, but its URI is still the canary's."""
    status = {
        "stableVersion": "1",
        "stableUri": "file:///v1",
        "canaryVersion": "2",
        "canaryUri": "file:///v2",
    }
    assert model_uri_of("2", status) == "file:///v2"
    assert model_uri_of("1", status) == "file:///v1"
    assert model_uri_of("3", status) is None


def test_rollout_objects_move_traffic_before_pods() -> None:
    """Services, then the route, then Deployments: weight leaves a canary before its pods change."""
    md = model_deployment(CANARY)
    decision = start_rollout(rollout_inputs(md, Settings())[0], "1", "2", T0)  # type: ignore[index]
    status = {
        "stableVersion": "1",
        "stableUri": "file:///v1",
        "canaryVersion": "2",
        "canaryUri": "file:///v2",
    }
    objects = build_rollout_objects(md, decision, status, Settings())
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Service", "Service", "Service", "HTTPRoute", "Deployment", "Deployment"]
    stable, canary = objects[-2:]
    assert stable["metadata"]["name"] == "fraud-stable"
    assert stable["spec"]["template"]["metadata"]["annotations"]["ferryman.dev/model-uri"] == "file:///v1"
    assert canary["spec"]["template"]["metadata"]["annotations"]["ferryman.dev/model-uri"] == "file:///v2"
    assert canary["spec"]["replicas"] == 3


STATUS = {"stableVersion": "1", "stableUri": "file:///v1", "canaryVersion": "2", "canaryUri": "file:///v2"}


def test_status_records_the_rejected_version_only_when_the_canary_is_rejected() -> None:
    """An abort or a rollback writes rejectedVersion (the same spec never starts it again); other
    transitions leave it alone."""
    plan = rollout_inputs(model_deployment(CANARY), Settings())[0]  # type: ignore[index]
    started = start_rollout(plan, "1", "2", T0)
    written = rollout_status(started, STATUS, canary_uri="file:///v2", generation=2, now=T0)
    assert "rejectedVersion" not in written
    aborted = apply_action(started.state, plan, RolloutAction.ABORT, T0)
    written = rollout_status(aborted, STATUS, canary_uri="file:///v2", generation=2, now=T0)
    assert aborted.reject_canary and written["rejectedVersion"] == "2"
    assert {c["type"]: c["status"] for c in written["conditions"]}["Degraded"] == "True"


def observed(canary: tuple[float, float, float], custom: dict[str, float | None]) -> Observation:
    return Observation(
        window_start=T0,
        window_end=T0,
        canary=TrackSample.counted(canary[0], canary[1], slow=canary[2], p99=0.03),
        stable=TrackSample.counted(3000, 9, slow=0, p99=0.02),
        canary_ready=True,
        custom=custom,
    )


def test_last_analysis_records_the_verdict_counts_evidence_and_metrics() -> None:
    """status.lastAnalysis shows the judge's word for the window, each check's counts and evidence,
    and each custom metric's value and whether it passed."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    plan = rollout_inputs(model_deployment(CANARY), Settings())[0]  # type: ignore[index]
    state = next_step(
        start_rollout(plan, "1", "2", T0).state, plan, policy, observed((0, 0, 0), {}), T0
    ).state
    bad = observed((100, 50, 0), {"accuracy": 0.5})
    decision = next_step(state, plan, policy, bad, T0)
    assert decision.verdict is not None and decision.verdict.outcome is Outcome.FAIL
    record = analysis_record(bad, decision, policy, T0)
    assert record["at"] == "2026-01-02T03:04:05Z" and record["verdict"] == "Fail"
    assert record["message"] == decision.verdict.message
    assert (record["canaryRequests"], record["canaryErrorRate"], record["stableErrorRate"]) == (
        100,
        0.5,
        0.003,
    )
    errors = next(c for c in record["checks"] if c["name"] == "errorRate")
    assert (errors["canaryBad"], errors["canaryTotal"], errors["stableBad"], errors["stableTotal"]) == (
        50,
        100,
        9,
        3000,
    )
    assert errors["evidence"] > 1 / policy.significance
    assert record["metrics"] == [{"name": "accuracy", "value": 0.5, "passed": False}]


def test_last_analysis_says_inconclusive_when_nothing_was_judged() -> None:
    """A look that judged nothing is recorded as Inconclusive (the one verdict vocabulary), not 'Wait'."""
    plan = rollout_inputs(model_deployment(CANARY), Settings())[0]  # type: ignore[index]
    decision = start_rollout(plan, "1", "2", T0)
    record = analysis_record(observed((0, 0, 0), {}), decision, AnalysisPolicy(), T0)
    assert record["verdict"] == "Inconclusive" and record["message"] == decision.state.message
