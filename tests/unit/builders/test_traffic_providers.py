"""Traffic providers: the spec picks one, and each decides the client Service, routing objects and pods."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.api import ModelDeployment
from ferryman.builders.traffic import (
    TrafficProviderKind,
    TrafficSplit,
    build_steady_traffic,
    load_provider,
    provider_for,
    provider_kind,
)

pytestmark = pytest.mark.unit

PARENTS = {"parentRefs": [{"name": "web"}]}
GATEWAY = {"mode": "gateway", "gateway": PARENTS}
TRAEFIK = {"mode": "gateway", "gateway": {**PARENTS, "mirrorWith": "TraefikService"}}
SHADOW = {"shadow": {"mirrorPercent": 20, "duration": "5m"}}


def model_deployment(traffic: dict[str, Any], strategy: dict[str, Any] | None = None) -> ModelDeployment:
    spec: dict[str, Any] = {
        "model": {"uri": "file:///m.onnx"},
        "serving": {"replicas": 3},
        "traffic": traffic,
    }
    if strategy:
        spec["strategy"] = strategy
    return ModelDeployment.model_validate(
        {
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": "risk", "uid": "u1"},
            "spec": spec,
        }
    )


def selector(service: dict[str, Any]) -> dict[str, str]:
    selected: dict[str, str] = service["spec"]["selector"]
    return selected


@pytest.mark.parametrize("kind", list(TrafficProviderKind))
def test_every_kind_names_a_module_whose_provider_is_of_that_kind(kind: TrafficProviderKind) -> None:
    """Adding a provider is one module and one enum value: the value must load that module's provider."""
    assert load_provider(kind).kind is kind


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        ({"mode": "replicas"}, TrafficProviderKind.REPLICAS),
        ({}, TrafficProviderKind.REPLICAS),
        (GATEWAY, TrafficProviderKind.GATEWAY_API),
        (
            {"mode": "gateway", "gateway": {**PARENTS, "mirrorWith": "RequestMirror"}},
            TrafficProviderKind.GATEWAY_API,
        ),
        (TRAEFIK, TrafficProviderKind.TRAEFIK),
    ],
)
def test_the_spec_selects_the_provider(traffic: dict[str, Any], expected: TrafficProviderKind) -> None:
    """mode picks replicas or a Gateway; a gateway's mirrorWith picks Gateway API or Traefik."""
    md = model_deployment(traffic)
    assert provider_kind(md) is expected
    assert provider_for(md).kind is expected


def test_replicas_pools_both_tracks_behind_the_client_service_while_the_canary_has_weight() -> None:
    """No Gateway: the weight is the pod ratio, so the client Service selects the canary's pods too."""
    md = model_deployment({"mode": "replicas"})
    provider = provider_for(md)
    assert "ferryman.dev/track" in selector(provider.client_service(md, TrafficSplit(0)))
    assert "ferryman.dev/track" not in selector(provider.client_service(md, TrafficSplit(25)))
    assert provider.stable_and_canary_replicas(md, TrafficSplit(25)) == (3, 1)
    assert provider.stable_and_canary_replicas(md, TrafficSplit(0)) == (3, 0)
    assert provider.objects(md, TrafficSplit(25)) == []
    assert build_steady_traffic(md) == []


def test_gateway_api_splits_by_weight_and_keeps_the_client_service_on_stable() -> None:
    """With a Gateway the route decides the canary's share; both tracks run the full replica count."""
    md = model_deployment(GATEWAY)
    provider = provider_for(md)
    assert selector(provider.client_service(md, TrafficSplit(25)))["ferryman.dev/track"] == "stable"
    assert provider.stable_and_canary_replicas(md, TrafficSplit(25)) == (3, 3)
    (route,) = provider.objects(md, TrafficSplit(25))
    weights = [(ref["name"], ref["weight"]) for ref in route["spec"]["rules"][0]["backendRefs"]]
    assert weights == [("fraud-stable", 75), ("fraud-canary", 25)]


def test_gateway_api_shadow_is_a_request_mirror_filter_beside_the_weights() -> None:
    """Standard gateways mirror with the HTTPRoute filter; no extra object is needed."""
    md = model_deployment(GATEWAY, SHADOW)
    (route,) = provider_for(md).objects(md, TrafficSplit(0, mirror_percent=20))
    rule = route["spec"]["rules"][0]
    assert rule["filters"][0]["requestMirror"]["percent"] == 20
    assert [ref["weight"] for ref in rule["backendRefs"]] == [100, 0]


def test_every_rule_routes_the_inference_api_only_so_pod_metrics_stay_private() -> None:
    """The pods' /metrics holds feature and prediction histograms: Prometheus scrapes the pods, and the
    Gateway's clients get the Open Inference Protocol's /v2 paths only, in every rule of every split."""
    ab = {"abTest": {"match": [{"headers": [{"name": "x-variant", "value": "b"}]}]}}
    splits = [
        TrafficSplit(25),
        TrafficSplit(0, mirror_percent=20),
        TrafficSplit(0, route_matched_to_canary=True),
    ]
    for strategy in (SHADOW, ab):
        for traffic in (GATEWAY, TRAEFIK):
            md = model_deployment(traffic, strategy)
            for split in splits:
                route = provider_for(md).objects(md, split)[-1]
                for rule in route["spec"]["rules"]:
                    paths = [match.get("path") for match in rule["matches"]]
                    assert paths and all(p == {"type": "PathPrefix", "value": "/v2"} for p in paths), rule


def test_steady_gateway_traffic_is_both_track_services_and_an_all_stable_route() -> None:
    """Without a rollout the route still exists, with every request on stable."""
    kinds_and_names = [
        (o["kind"], o["metadata"]["name"]) for o in build_steady_traffic(model_deployment(GATEWAY))
    ]
    assert kinds_and_names == [
        ("Service", "fraud-stable"),
        ("Service", "fraud-canary"),
        ("HTTPRoute", "fraud"),
    ]
    route = build_steady_traffic(model_deployment(TRAEFIK))[-1]
    assert route["spec"]["rules"][0]["backendRefs"][0]["weight"] == 100


def test_traefik_shadow_adds_its_mirroring_service_before_the_route_that_names_it() -> None:
    """Traefik does not implement RequestMirror: a TraefikService mirrors, and is applied first."""
    md = model_deployment(TRAEFIK, SHADOW)
    mirror, route = provider_for(md).objects(md, TrafficSplit(0, mirror_percent=20))
    assert mirror["kind"] == "TraefikService"
    assert mirror["spec"]["mirroring"]["mirrors"][0] == {"name": "fraud-canary", "port": 80, "percent": 20}
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == mirror["metadata"]["name"]
    assert "filters" not in route["spec"]["rules"][0]


def test_traefik_without_a_mirror_is_plain_gateway_api() -> None:
    """Weights and A/B matches are the Gateway API provider's, unchanged."""
    traefik, standard = model_deployment(TRAEFIK), model_deployment(GATEWAY)
    split = TrafficSplit(40)
    assert provider_for(traefik).objects(traefik, split) == provider_for(standard).objects(standard, split)
    assert provider_for(traefik).stable_and_canary_replicas(traefik, split) == (3, 3)


def test_traefik_shadow_keeps_an_all_stable_rule_behind_the_mirror_rule() -> None:
    """Traefik drops the mirror while the candidate has no ready endpoint: a second rule for the same
    requests must then send users to stable, instead of the route answering 404. Its text differs (Traefik
    makes one router per rule text) and the mirror rule's method matches outrank the fallback on the same
    path."""
    md = model_deployment(TRAEFIK, SHADOW)
    _, route = provider_for(md).objects(md, TrafficSplit(0, mirror_percent=20))
    mirror_rule, fallback = route["spec"]["rules"]
    assert [ref.get("kind") for ref in mirror_rule["backendRefs"]] == ["TraefikService"]
    methods = {match["method"] for match in mirror_rule["matches"]}
    assert methods == {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
    assert all(match["path"] == {"type": "PathPrefix", "value": "/v2"} for match in mirror_rule["matches"])
    assert fallback["matches"] == [{"path": {"type": "PathPrefix", "value": "/v2"}}]  # the same path
    weights = [(ref["name"], ref["weight"]) for ref in fallback["backendRefs"]]
    assert weights == [("fraud-stable", 100), ("fraud-canary", 0)]
