"""Pure: what every kind of stable autoscaler shares (the HPA, KEDA's ScaledObject): its name and owner,
its bounds with the promotion floor, and how fast it may scale each way."""

from __future__ import annotations

from typing import Any

from ferryman.api import ModelDeployment
from ferryman.api.serving import Autoscaling
from ferryman.builders.naming import deployment_name, owned_labels
from ferryman.builders.ownership import owner_reference

INFLIGHT_METRIC = "ferryman_inflight_requests"
# The HPA's own default for scaling up (no stabilization): load rises are answered at once.
SCALE_UP_STABILIZATION_SECONDS = 0


def spec_autoscaling(md: ModelDeployment) -> Autoscaling:
    autoscaling = md.spec.serving.autoscaling
    if autoscaling is None:
        raise ValueError("spec.serving.autoscaling: not set, so there is no autoscaler to build")
    return autoscaling


def autoscaler_metadata(md: ModelDeployment) -> dict[str, Any]:
    """Named after the stable Deployment it scales, owned by the ModelDeployment."""
    return {
        "name": deployment_name(md.metadata.name, "stable"),
        "namespace": md.metadata.namespace,
        "labels": owned_labels(md.metadata.name),
        "ownerReferences": [owner_reference(md)],
    }


def bounded_min_replicas(autoscaling: Autoscaling, floor: int | None) -> int:
    """The spec's minReplicas, or the promotion floor when one is given, always within the spec's bounds."""
    wanted = autoscaling.min_replicas if floor is None else floor
    return max(autoscaling.min_replicas, min(wanted, autoscaling.max_replicas))


def scaling_behavior(autoscaling: Autoscaling) -> dict[str, Any]:
    """The HPA's behavior: scale up at once, scale down after the spec's stabilization window."""
    return {
        "scaleUp": {"stabilizationWindowSeconds": SCALE_UP_STABILIZATION_SECONDS},
        "scaleDown": {"stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds},
    }
