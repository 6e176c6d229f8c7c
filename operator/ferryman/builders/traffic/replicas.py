"""Replica-ratio provider: no Gateway; one Service over both tracks, the weight approximated by pod counts."""

from __future__ import annotations

import math
from typing import ClassVar

from ferryman.api import ModelDeployment
from ferryman.builders.serving import build_service
from ferryman.builders.traffic import Manifest, TrafficProviderKind, TrafficSplit


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


class ReplicasProvider:
    """The client Service selects the canary's pods too while it has a share; nothing else steers."""

    kind: ClassVar[TrafficProviderKind] = TrafficProviderKind.REPLICAS

    def client_service(self, md: ModelDeployment, split: TrafficSplit) -> Manifest:
        return build_service(md, canary_gets_traffic=split.canary_weight > 0)

    def objects(self, md: ModelDeployment, split: TrafficSplit) -> list[Manifest]:
        return []

    def stable_and_canary_replicas(self, md: ModelDeployment, split: TrafficSplit) -> tuple[int, int]:
        return replica_split(md.spec.serving.fixed_replicas, split.canary_weight)

    def steady_objects(self, md: ModelDeployment) -> list[Manifest]:
        return []


PROVIDER = ReplicasProvider()
