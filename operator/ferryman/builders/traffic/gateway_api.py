"""Gateway API provider: exact weights on HTTPRoute backends, the RequestMirror filter, A/B matches."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ferryman.api import GatewayTraffic, HttpMatch, ModelDeployment
from ferryman.builders.naming import owned_labels, track_service_name
from ferryman.builders.ownership import owner_reference
from ferryman.builders.serving import build_service, build_track_service
from ferryman.builders.traffic import Manifest, TrafficProviderKind, TrafficSplit

SERVICE_PORT = 80
# Every rule matches the Open Inference Protocol's paths only: the pods' /metrics (feature and prediction
# histograms, request counts) is for Prometheus, which scrapes the pods, not for the Gateway's clients.
API_PATH: dict[str, Any] = {"path": {"type": "PathPrefix", "value": "/v2"}}


def route_name(md: ModelDeployment, gateway: GatewayTraffic) -> str:
    return gateway.http_route or md.metadata.name


def backend_ref(name: str, weight: int | None = None) -> dict[str, Any]:
    """A backendRef to one of md's Services on the port every Ferryman Service listens on."""
    ref: dict[str, Any] = {"name": name, "port": SERVICE_PORT}
    if weight is not None:
        ref["weight"] = weight
    return ref


def gateway_of(md: ModelDeployment) -> GatewayTraffic:
    gateway = md.spec.traffic.gateway
    if gateway is None:  # the API refuses mode: gateway without it; a provider mix-up if seen here
        raise ValueError("spec.traffic.gateway: required when spec.traffic.mode is gateway")
    return gateway


class GatewayApiProvider:
    """Weights, not pod counts, split traffic: both tracks run the full replica count."""

    kind: ClassVar[TrafficProviderKind] = TrafficProviderKind.GATEWAY_API

    def client_service(self, md: ModelDeployment, split: TrafficSplit) -> Manifest:
        # Clients that bypass the Gateway reach stable only: the route alone decides the canary's share.
        return build_service(md)

    def objects(self, md: ModelDeployment, split: TrafficSplit) -> list[Manifest]:
        return [self.http_route(md, gateway_of(md), split)]

    def stable_and_canary_replicas(self, md: ModelDeployment, split: TrafficSplit) -> tuple[int, int]:
        replicas = md.spec.serving.fixed_replicas
        return replicas, replicas

    def steady_objects(self, md: ModelDeployment) -> list[Manifest]:
        return [
            build_track_service(md, "stable"),
            build_track_service(md, "canary"),
            *self.objects(md, TrafficSplit(canary_weight=0)),
        ]

    def weighted_rule(self, md: ModelDeployment, split: TrafficSplit) -> dict[str, Any]:
        """Both tracks as backends, weighted by the split."""
        stable, canary = (track_service_name(md.metadata.name, t) for t in ("stable", "canary"))
        return {
            "matches": [API_PATH],
            "backendRefs": [
                backend_ref(stable, split.stable_weight),
                backend_ref(canary, split.canary_weight),
            ],
        }

    def catch_all_rules(self, md: ModelDeployment, split: TrafficSplit) -> list[dict[str, Any]]:
        """The rules for requests no A/B match claims: the weights, plus a RequestMirror while shadowing."""
        rule = self.weighted_rule(md, split)
        if split.mirror_percent > 0:
            mirror = {"backendRef": backend_ref(track_service_name(md.metadata.name, "canary")),
                      "percent": split.mirror_percent}  # fmt: skip
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
        return [rule]

    def http_route(self, md: ModelDeployment, gateway: GatewayTraffic, split: TrafficSplit) -> Manifest:
        name = md.metadata.name
        rules = self.catch_all_rules(md, split)
        if split.route_matched_to_canary and md.spec.strategy and md.spec.strategy.ab_test:
            rules.insert(0, {"matches": [_route_match(m) for m in md.spec.strategy.ab_test.match],
                             "backendRefs": [backend_ref(track_service_name(name, "canary"))]})  # fmt: skip
        spec: dict[str, Any] = {
            "parentRefs": [p.model_dump(by_alias=True, exclude_none=True) for p in gateway.parent_refs],
            "rules": rules,
        }
        if gateway.hostnames:
            spec["hostnames"] = list(gateway.hostnames)
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {
                "name": route_name(md, gateway),
                "namespace": md.metadata.namespace,
                "labels": owned_labels(name),
                "ownerReferences": [owner_reference(md)],
            },
            "spec": spec,
        }


def _route_match(match: HttpMatch) -> dict[str, Any]:
    headers = [{"name": h.name, "value": h.value, "type": h.type} for h in match.headers]
    if match.cookie is not None:
        # Gateway API has no cookie match: a regular expression on the Cookie header does the job.
        cookie = re.escape(f"{match.cookie.name}={match.cookie.value}")
        headers.append({"name": "Cookie", "type": "RegularExpression", "value": f"(^|;\\s*){cookie}(;|$)"})
    return {**API_PATH, "headers": headers}


PROVIDER = GatewayApiProvider()
