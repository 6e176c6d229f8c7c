"""Pure builders of how user traffic reaches the tracks: HTTPRoute weights or replica ratios."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ferryman.api import GatewayTraffic, HttpMatch, ModelDeployment
from ferryman.builders.naming import owned_labels, track_service_name
from ferryman.builders.serving import build_track_service, owner_reference

SERVICE_PORT = 80


@dataclass(frozen=True)
class TrafficSplit:
    """Where user requests go right now; canary_weight + stable_weight is always 100."""

    canary_weight: int
    mirror_percent: int = 0
    route_matched_to_canary: bool = False

    @property
    def stable_weight(self) -> int:
        return 100 - self.canary_weight


def replica_split(total: int, canary_weight: int) -> tuple[int, int]:
    """(stable, canary) replicas whose ratio approximates canary_weight without a Gateway.

    Stable keeps its full replica count during the rollout (a rollback needs no scale-up); the
    canary gets enough pods that its share of the pooled endpoints is about canary_weight.
    """
    if canary_weight <= 0:
        return total, 0
    if canary_weight >= 100:
        return total, max(total, 1)
    canary = math.ceil(total * canary_weight / (100 - canary_weight))
    return total, max(canary, 1)


def route_name(md: ModelDeployment, gateway: GatewayTraffic) -> str:
    return gateway.http_route or md.metadata.name


def mirror_service_name(md: ModelDeployment) -> str:
    return f"{md.metadata.name}-mirror"


def _backend(name: str, weight: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "port": SERVICE_PORT}
    if weight is not None:
        ref["weight"] = weight
    return ref


def build_http_route(md: ModelDeployment, gateway: GatewayTraffic, split: TrafficSplit) -> dict[str, Any]:
    """The HTTPRoute that splits, mirrors or matches requests between the stable and canary Services."""
    name = md.metadata.name
    stable, canary = track_service_name(name, "stable"), track_service_name(name, "canary")
    main_rule: dict[str, Any] = {
        "backendRefs": [_backend(stable, split.stable_weight), _backend(canary, split.canary_weight)]
    }
    if split.mirror_percent > 0 and gateway.mirror_with == "RequestMirror":
        main_rule["filters"] = [
            {
                "type": "RequestMirror",
                "requestMirror": {"backendRef": _backend(canary), "percent": split.mirror_percent},
            }
        ]
    elif split.mirror_percent > 0:
        main_rule["backendRefs"] = [
            {"group": "traefik.io", "kind": "TraefikService", "name": mirror_service_name(md), "weight": 100}
        ]
    rules = [main_rule]
    if split.route_matched_to_canary and md.spec.strategy and md.spec.strategy.ab_test:
        rules.insert(0, {"matches": [_route_match(m) for m in md.spec.strategy.ab_test.match],
                         "backendRefs": [_backend(canary)]})  # fmt: skip
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
    return {"headers": headers}


def build_steady_traffic(md: ModelDeployment) -> list[dict[str, Any]]:
    """Without a rollout: in gateway mode, the route with all traffic on stable, and both track Services."""
    gateway = md.spec.traffic.gateway if md.spec.traffic.mode == "gateway" else None
    if gateway is None:
        return []
    return [
        build_track_service(md, "stable"),
        build_track_service(md, "canary"),
        build_http_route(md, gateway, TrafficSplit(canary_weight=0)),
    ]


def build_traefik_mirror(md: ModelDeployment, split: TrafficSplit) -> dict[str, Any]:
    """Traefik's own mirroring service: stable answers, the canary gets a copy (responses dropped)."""
    name = md.metadata.name
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {
            "name": mirror_service_name(md),
            "namespace": md.metadata.namespace,
            "labels": owned_labels(name),
            "ownerReferences": [owner_reference(md)],
        },
        "spec": {
            "mirroring": {
                "name": track_service_name(name, "stable"),
                "port": SERVICE_PORT,
                "mirrors": [
                    {
                        "name": track_service_name(name, "canary"),
                        "port": SERVICE_PORT,
                        "percent": split.mirror_percent,
                    }
                ],
            }
        },
    }
