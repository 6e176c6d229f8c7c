"""How user requests reach the stable and canary tracks: one provider per way of steering them.

A provider decides, for a ModelDeployment and a `TrafficSplit`, three things: the Service clients call,
the objects that steer requests between the tracks' Services (an HTTPRoute, a Traefik mirroring service;
nothing when the pod ratio does it), and how many pods each track runs. The rollout path
(`build_rollout_objects`) and the steady path (`build_steady_traffic`) both ask `provider_for(md)`;
nothing else in the operator knows which provider is in use.

Providers today: `gateway_api` (HTTPRoute weights, RequestMirror, A/B matches), `traefik` (the same route,
but a shadow's mirror is a TraefikService, as Traefik does not implement RequestMirror) and `replicas`
(no Gateway: one Service over both tracks, the weight approximated by the replica ratio).

Adding a provider (Istio, another mesh) is one new module in this package that defines ``PROVIDER`` (an
object with the `TrafficProvider` methods) and one `TrafficProviderKind` value named after that module,
returned by `provider_kind` for the spec that selects it. `tests/unit/builders/test_traffic_providers.py`
checks that every kind loads a provider of that kind.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from ferryman.api import GatewayTraffic, ModelDeployment

Manifest = dict[str, Any]


@dataclass(frozen=True)
class TrafficSplit:
    """Where user requests go right now; canary_weight + stable_weight is always 100."""

    canary_weight: int
    mirror_percent: int = 0
    route_matched_to_canary: bool = False

    @property
    def stable_weight(self) -> int:
        return 100 - self.canary_weight


class TrafficProviderKind(StrEnum):
    """Each way Ferryman can steer traffic; the value is the name of the module that implements it."""

    REPLICAS = "replicas"
    GATEWAY_API = "gateway_api"
    TRAEFIK = "traefik"


class TrafficProvider(Protocol):
    """One way of steering user traffic between the stable and canary tracks. Pure: no I/O."""

    kind: ClassVar[TrafficProviderKind]

    def client_service(self, md: ModelDeployment, split: TrafficSplit) -> Manifest:
        """The Service clients call (named after the ModelDeployment)."""
        ...

    def objects(self, md: ModelDeployment, split: TrafficSplit) -> list[Manifest]:
        """What steers requests between the track Services, in apply order (applied after the Services)."""
        ...

    def stable_and_canary_replicas(self, md: ModelDeployment, split: TrafficSplit) -> tuple[int, int]:
        """How many pods the stable and the canary Deployment run for this split."""
        ...

    def steady_objects(self, md: ModelDeployment) -> list[Manifest]:
        """Without a rollout: what sends all traffic to stable (besides the client Service)."""
        ...


class GatewayRouteProvider(TrafficProvider, Protocol):
    """A provider that steers traffic with an HTTPRoute attached to a Gateway."""

    def http_route(self, md: ModelDeployment, gateway: GatewayTraffic, split: TrafficSplit) -> Manifest:
        """The HTTPRoute that splits, mirrors or matches requests between the track Services."""
        ...


def provider_kind(md: ModelDeployment) -> TrafficProviderKind:
    """The one place that maps a spec onto a provider."""
    traffic = md.spec.traffic
    if traffic.mode != "gateway" or traffic.gateway is None:
        return TrafficProviderKind.REPLICAS
    return gateway_provider_kind(traffic.gateway)


def gateway_provider_kind(gateway: GatewayTraffic) -> TrafficProviderKind:
    """Gateways differ only in how they mirror: Traefik needs its own mirroring service."""
    if gateway.mirror_with == "TraefikService":
        return TrafficProviderKind.TRAEFIK
    return TrafficProviderKind.GATEWAY_API


def load_provider(kind: TrafficProviderKind) -> Any:
    """The ``PROVIDER`` of the module named by kind.

    Loaded by name because every provider module imports this interface (a static import here would
    be circular), and so that a new provider needs no registry entry besides its enum value.
    """
    return importlib.import_module(f"{__name__}.{kind.value}").PROVIDER


def provider_for(md: ModelDeployment) -> TrafficProvider:
    """The provider that steers md's traffic."""
    provider: TrafficProvider = load_provider(provider_kind(md))
    return provider


def build_steady_traffic(md: ModelDeployment) -> list[Manifest]:
    """Without a rollout: the objects md's provider needs so that all traffic reaches stable."""
    return provider_for(md).steady_objects(md)


def build_http_route(md: ModelDeployment, gateway: GatewayTraffic, split: TrafficSplit) -> Manifest:
    """The HTTPRoute for split through gateway, laid out by the provider its mirrorWith selects."""
    provider: GatewayRouteProvider = load_provider(gateway_provider_kind(gateway))
    return provider.http_route(md, gateway, split)
