"""Pure pieces between the CRD and the rollout state machine: plans, version changes, traffic, objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ferryman.api import ModelDeployment
from ferryman.builders.rollout_objects import build_rollout_objects, model_uri_of
from ferryman.builders.rollout_plan import rollout_inputs
from ferryman.builders.traffic import TrafficSplit, build_http_route
from ferryman.builders.traffic.replicas import replica_split
from ferryman.builders.version_change import VersionChange, classify_version_change
from ferryman.config import Settings
from ferryman.rollout import PauseStep, StrategyKind, WeightStep, start_rollout

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
    inputs = rollout_inputs(model_deployment(CANARY))
    assert inputs is not None
    plan, policy = inputs
    assert plan.strategy is StrategyKind.CANARY
    assert plan.steps == (WeightStep(10), PauseStep(60.0), PauseStep(None), WeightStep(50))
    assert plan.interval_seconds == 30.0
    assert policy.max_error_rate == 0.01 and policy.max_latency_p99_seconds == 0.5
    assert policy.failure_limit == 2 and policy.min_requests == 100


def test_no_strategy_means_no_rollout() -> None:
    """Without spec.strategy a new model replaces the old one in place."""
    md = model_deployment(CANARY)
    md.spec.strategy = None
    assert rollout_inputs(md) is None


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
        ({"stableUri": "a", "phase": "RolledBack", "canaryUri": "b"}, "b", True, VersionChange.KEEP_REJECTED),
        ({"stableUri": "a", "phase": "RolledBack", "canaryUri": "b"}, "c", True, VersionChange.START_ROLLOUT),
        ({"stableUri": "a", "phase": "RolledBack", "canaryUri": "b"}, "a", True, VersionChange.KEEP_STABLE),
    ],
)
def test_spec_edits_are_classified(
    status: dict[str, Any], desired: str, has_strategy: bool, expected: VersionChange
) -> None:
    """A rolled-back version is not retried until the spec names another; reverting mid-rollout aborts."""
    assert classify_version_change(status, desired, has_strategy) is expected


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
    decision = start_rollout(rollout_inputs(md)[0], "1", "2", T0)  # type: ignore[index]
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
