"""Traefik provider: the Gateway API route, but a shadow's mirror is Traefik's own mirroring service.

Traefik accepts the HTTPRoute RequestMirror filter but does not implement it (the rule answers 500), so
while shadowing, the main rule's only backend is a TraefikService whose `mirroring` sends every request
to stable and a copy of mirror_percent of them to the canary (the canary's answers are dropped).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ferryman.api import ModelDeployment
from ferryman.builders.naming import owned_labels, track_service_name
from ferryman.builders.serving import owner_reference
from ferryman.builders.traffic import Manifest, TrafficProviderKind, TrafficSplit
from ferryman.builders.traffic.gateway_api import SERVICE_PORT, GatewayApiProvider, gateway_of


def mirror_service_name(md: ModelDeployment) -> str:
    return f"{md.metadata.name}-mirror"


class TraefikProvider(GatewayApiProvider):
    """Gateway API everywhere except mirroring."""

    kind: ClassVar[TrafficProviderKind] = TrafficProviderKind.TRAEFIK

    def objects(self, md: ModelDeployment, split: TrafficSplit) -> list[Manifest]:
        route = self.http_route(md, gateway_of(md), split)
        # The mirroring service first: the route that names it must not point at nothing.
        return [build_traefik_mirror(md, split), route] if split.mirror_percent > 0 else [route]

    def main_rule(self, md: ModelDeployment, split: TrafficSplit) -> dict[str, Any]:
        if split.mirror_percent <= 0:
            return super().main_rule(md, split)
        mirror = {
            "group": "traefik.io",
            "kind": "TraefikService",
            "name": mirror_service_name(md),
            "weight": 100,
        }
        return {"backendRefs": [mirror]}


def build_traefik_mirror(md: ModelDeployment, split: TrafficSplit) -> Manifest:
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


PROVIDER = TraefikProvider()
