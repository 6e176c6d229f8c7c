"""How traffic is split between the stable and the candidate model version."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from ferryman.api.base import MAX_LIST, MAX_NAME, OBJECT_NAME_PATTERN, ApiModel, CelRule, cel_rules

TrafficMode = Literal["replicas", "gateway"]
# Gateway API's Hostname: lowercase DNS names, optionally a leading "*." wildcard label.
Hostname = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
MirrorImplementation = Literal["RequestMirror", "TraefikService"]

GATEWAY_NEEDS_TARGET = CelRule(
    rule="has(self.httpRoute) || (has(self.parentRefs) && size(self.parentRefs) > 0)",
    message="spec.traffic.gateway: set httpRoute (a route to manage) or parentRefs (Gateways to attach to)",
)
GATEWAY_ONLY_IN_GATEWAY_MODE = CelRule(
    rule="!has(self.gateway) || (has(self.mode) && self.mode == 'gateway')",
    message=(
        "spec.traffic.gateway is used only with spec.traffic.mode: gateway (mode replicas would ignore it); "
        "set mode: gateway, or remove gateway"
    ),
)
GATEWAY_MODE_NEEDS_GATEWAY = CelRule(
    rule="!has(self.mode) || self.mode != 'gateway' || has(self.gateway)",
    message=(
        "spec.traffic.gateway is required when spec.traffic.mode is gateway; set it, or use mode: replicas"
    ),
)


class ParentRef(ApiModel):
    """A Gateway (or other parent) the HTTPRoute attaches to, as in Gateway API parentRefs."""

    name: str = Field(max_length=MAX_NAME, description="Name of the parent, usually a Gateway.")
    namespace: str | None = Field(
        default=None, max_length=63, description="Namespace of the parent; defaults to the route's."
    )
    section_name: str | None = Field(
        default=None, max_length=MAX_NAME, description="Listener of the Gateway to attach to."
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="Port of the Gateway to attach to.")
    group: str = Field(
        default="gateway.networking.k8s.io", max_length=MAX_NAME, description="API group of the parent."
    )
    kind: str = Field(default="Gateway", max_length=63, description="Kind of the parent.")


class GatewayTraffic(ApiModel, json_schema_extra=cel_rules(GATEWAY_NEEDS_TARGET)):
    """Split traffic with Gateway API HTTPRoute backend weights, mirrors and header matches."""

    http_route: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME,
        pattern=OBJECT_NAME_PATTERN,  # joined into the API path
        description=(
            "HTTPRoute the operator creates, owns and writes; defaults to the ModelDeployment's name. "
            "An existing route of that name that this ModelDeployment does not own is never changed: "
            "the ModelDeployment goes Degraded instead."
        ),
    )
    parent_refs: list[ParentRef] = Field(
        default_factory=list, max_length=MAX_LIST, description="Gateways the HTTPRoute attaches to."
    )
    hostnames: list[Hostname] = Field(
        default_factory=list, max_length=16, description="Hostnames the HTTPRoute matches."
    )
    mirror_with: MirrorImplementation = Field(
        default="RequestMirror",
        description=(
            "How shadow traffic is mirrored. RequestMirror: the standard HTTPRoute filter (Envoy Gateway, "
            "Istio, ...). TraefikService: for Traefik, which accepts but does not implement RequestMirror; "
            "a rule sends requests to a Traefik mirroring service (all to stable, a copy to the candidate) "
            "and a lower-priority rule for the same requests sends them to stable alone, which answers "
            "whenever Traefik drops the mirror (a candidate with no ready endpoint)."
        ),
    )

    @model_validator(mode="after")
    def _has_target(self) -> Self:
        if self.http_route is None and not self.parent_refs:
            raise ValueError(GATEWAY_NEEDS_TARGET.message)
        return self


class TrafficSpec(
    ApiModel, json_schema_extra=cel_rules(GATEWAY_MODE_NEEDS_GATEWAY, GATEWAY_ONLY_IN_GATEWAY_MODE)
):
    """How requests reach the stable and candidate versions."""

    mode: TrafficMode = Field(
        default="replicas",
        description=(
            "replicas: one Service over both tracks, weight approximated by the pod ratio (no Gateway "
            "needed). gateway: exact weights, mirroring and header routing via a Gateway API HTTPRoute."
        ),
    )
    gateway: GatewayTraffic | None = Field(
        default=None, description="The HTTPRoute to manage; required when mode is gateway."
    )

    @model_validator(mode="after")
    def _gateway_when_needed(self) -> Self:
        if self.mode == "gateway" and self.gateway is None:
            raise ValueError(GATEWAY_MODE_NEEDS_GATEWAY.message)
        if self.mode != "gateway" and self.gateway is not None:
            raise ValueError(GATEWAY_ONLY_IN_GATEWAY_MODE.message)
        return self
