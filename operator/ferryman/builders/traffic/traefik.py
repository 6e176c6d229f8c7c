"""Traefik provider: the Gateway API route, but a shadow's mirror is Traefik's own mirroring service.

Traefik accepts the HTTPRoute RequestMirror filter but does not implement it (the rule answers 500), so
while shadowing, the first rule's only backend is a TraefikService whose `mirroring` sends every request
to stable and a copy of mirror_percent of them to the canary (the canary's answers are dropped). A second,
lower-priority rule for the same requests sends everything to stable: it answers whenever Traefik has
dropped the mirror (a candidate with no ready endpoint), so an unready or deleted candidate never
reaches users.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ferryman.api import ModelDeployment
from ferryman.builders.naming import owned_labels, track_service_name
from ferryman.builders.ownership import owner_reference
from ferryman.builders.traffic import Manifest, TrafficProviderKind, TrafficSplit
from ferryman.builders.traffic.gateway_api import API_PATH, SERVICE_PORT, GatewayApiProvider, gateway_of

# Every method a Gateway API match can name (HTTPMethod): together they match every ordinary request.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def mirror_service_name(md: ModelDeployment) -> str:
    return f"{md.metadata.name}-mirror"


class TraefikProvider(GatewayApiProvider):
    """Gateway API everywhere except mirroring."""

    kind: ClassVar[TrafficProviderKind] = TrafficProviderKind.TRAEFIK

    def objects(self, md: ModelDeployment, split: TrafficSplit) -> list[Manifest]:
        route = self.http_route(md, gateway_of(md), split)
        # The mirroring service first: the route that names it must not point at nothing.
        return [build_traefik_mirror(md, split), route] if split.mirror_percent > 0 else [route]

    def catch_all_rules(self, md: ModelDeployment, split: TrafficSplit) -> list[dict[str, Any]]:
        weighted = self.weighted_rule(md, split)
        if split.mirror_percent <= 0:
            return [weighted]
        # Traefik drops a mirroring service while its mirror (the candidate's Service) has no ready
        # endpoint, and skips a router whose backend is gone: a rule whose only backend is the mirror
        # would then answer 404 to users. So a second rule sends the same requests to stable. The two
        # must differ in text (Traefik makes one router per rule text and entry point) and the mirror
        # rule must win while it exists: on the same path, a method match ranks it above the fallback
        # (Gateway API precedence, as Traefik computes router priorities) but below any longer path,
        # so it never takes requests from another route that a path-specific rule claims.
        every_method = [{**API_PATH, "method": method} for method in HTTP_METHODS]
        mirror = {
            "group": "traefik.io",
            "kind": "TraefikService",
            "name": mirror_service_name(md),
            "weight": 100,
        }
        return [{"matches": every_method, "backendRefs": [mirror]}, weighted]


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
