"""Pure: the HorizontalPodAutoscaler of a ModelDeployment's stable track, and how a canary follows it.

The HPA scales the stable Deployment on `ferryman_inflight_requests` per pod (through the custom
metrics API). The operator never writes that Deployment's `spec.replicas` while the HPA owns it: the
manifest leaves the field out, so server-side apply keeps the HPA controller its only writer.

A canary has no HPA of its own: during a rollout the operator gives it the pods that its traffic share
needs at the load per pod stable runs at (see `canary_replicas_for`). Promotion moves the canary's
version onto the stable Deployment, whose HPA stays; so that the switch of all traffic to stable causes no
dip, the HPA's minReplicas is raised to the pods both tracks ran when promotion began
(`promotion_floor`), held until the old canary's pods retire, then given back to the user's minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ferryman.api import ModelDeployment
from ferryman.api.serving import Autoscaling
from ferryman.builders.autoscaler_objects import (
    INFLIGHT_METRIC,
    autoscaler_metadata,
    bounded_min_replicas,
    scaling_behavior,
    spec_autoscaling,
)
from ferryman.builders.keda import build_scaled_object
from ferryman.builders.naming import deployment_name
from ferryman.config import Settings

HPA_API_VERSION = "autoscaling/v2"


@dataclass(frozen=True)
class TrackReplicas:
    """Under an autoscaler: the replicas each track's Deployment has now, and the promotion floor to apply."""

    stable: int
    canary: int
    floor: int | None = None


def build_autoscaler(
    md: ModelDeployment, settings: Settings, min_replicas: int | None = None
) -> dict[str, Any]:
    """Stable's autoscaler of the kind the operator is set to make (settings.autoscaler)."""
    if settings.autoscaler == "keda":
        return build_scaled_object(md, settings.prometheus_url, min_replicas)
    return build_horizontal_pod_autoscaler(md, min_replicas)


def may_have_an_autoscaler(md: ModelDeployment) -> bool:
    """Whether an autoscaler made for md can exist. Not for a spec that was never edited (generation 1)
    and asks for none: every reconcile of this object saw that spec. A thousand new ModelDeployments
    then cost no reads of autoscalers that cannot be there."""
    return md.spec.serving.autoscaling is not None or md.metadata.generation != 1


def build_horizontal_pod_autoscaler(md: ModelDeployment, min_replicas: int | None = None) -> dict[str, Any]:
    """The HPA for md's stable Deployment; min_replicas overrides the spec's (the promotion floor)."""
    autoscaling = spec_autoscaling(md)
    name = deployment_name(md.metadata.name, "stable")
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": autoscaler_metadata(md),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": bounded_min_replicas(autoscaling, min_replicas),
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": INFLIGHT_METRIC},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": str(autoscaling.target_in_flight),
                        },
                    },
                }
            ],
            "behavior": scaling_behavior(autoscaling),
        },
    }


def canary_replicas_for(stable_replicas: int, canary_weight: int) -> int:
    """Pods for a canary with canary_weight percent of traffic, beside stable_replicas pods carrying the rest.

    Equal load per pod on both tracks: stable's HPA sized its pods for the (100 - weight) percent that
    reaches them, so the canary needs stable * weight / (100 - weight), rounded up. Equal load matters
    beyond capacity: the judge compares the tracks' latency, and an overloaded canary would look worse
    than the version it is. At least 1 pod while it exists (it must be Ready before it gets traffic);
    at 100 percent (a blue-green cutover) as many as stable.
    """
    if canary_weight >= 100:
        return max(stable_replicas, 1)
    needed = math.ceil(stable_replicas * canary_weight / (100 - canary_weight))
    return max(needed, 1)


def canary_replicas_to_follow(*, judging: bool, canary_weight: int, stable: int, canary: int) -> int | None:
    """Between rollout steps: the canary's new pod count when stable's autoscaler moved, else None.

    Only while the canary is judged (Progressing, Paused) and exists; a promoted canary keeps its pods.
    """
    if not judging or canary <= 0:
        return None
    wanted = canary_replicas_for(stable, canary_weight)
    return wanted if wanted != canary else None


def promotion_floor(autoscaling: Autoscaling, stable_replicas: int, canary_replicas: int) -> int:
    """The HPA minimum while a promotion moves all traffic onto stable: the pods both tracks run now."""
    return max(autoscaling.min_replicas, min(stable_replicas + canary_replicas, autoscaling.max_replicas))


def floor_to_keep(
    *, promoting: bool, canary_pods_remain: bool, previous_floor: int | None, start_floor: int
) -> int | None:
    """The promotion floor the status carries next: set when promotion begins, kept until the old canary's
    pods retire (traffic left them for stable), then None (the user's minReplicas again).

    Recorded, not recomputed: a floor computed afresh from stable's pods would rise with every scale-up
    it caused itself.
    """
    if promoting:
        return previous_floor if previous_floor is not None else start_floor
    if canary_pods_remain and previous_floor is not None:
        return previous_floor
    return None


def replicas_handover(deployment: dict[str, Any] | None, field_manager: str) -> dict[str, Any] | None:
    """A one-field apply that keeps spec.replicas when the operator hands it to the HPA, else None.

    When an apply leaves out a field its manager alone owned, the API server deletes it and the Deployment
    falls back to 1 replica until the HPA reacts. Kubernetes' documented hand-over: a second field manager
    applies the current value, so the field survives the operator dropping it, and the HPA controller's
    first scale takes it over.
    """
    if deployment is None or not _applies_replicas(deployment, field_manager):
        return None
    metadata = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")},
        "spec": {"replicas": int(deployment.get("spec", {}).get("replicas", 1))},
    }


def handover_field_manager(field_manager: str) -> str:
    return f"{field_manager}-handover-to-hpa"


def _applies_replicas(deployment: dict[str, Any], field_manager: str) -> bool:
    for entry in deployment.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == field_manager and entry.get("operation") == "Apply":
            return "f:replicas" in (entry.get("fieldsV1", {}).get("f:spec") or {})
    return False


def replica_counts(deployment: dict[str, Any] | None) -> tuple[int, int]:
    """(desired, ready) replicas of a Deployment as it is now; (0, 0) when it does not exist."""
    if deployment is None:
        return 0, 0
    desired = int(deployment.get("spec", {}).get("replicas", 0))
    return desired, int(deployment.get("status", {}).get("readyReplicas", 0))
