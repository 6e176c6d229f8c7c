"""The status of a ModelDeployment whose stable track is being applied or serving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman.builders.status import ConditionStatus, DeploymentReadiness, condition, with_other_conditions


def serving_status(
    *,
    previous: dict[str, Any] | None,
    generation: int | None,
    stable_version: str,
    stable_uri: str,
    stable: DeploymentReadiness,
    now: datetime,
) -> dict[str, Any]:
    """Status once the stable objects are applied: Pending until its pods are Ready, then Succeeded."""
    previous_conditions = (previous or {}).get("conditions")
    ready: ConditionStatus = "True" if stable.ready else "False"
    progressing: ConditionStatus = "False" if stable.ready else "True"
    reason = "StableReady" if stable.ready else "WaitingForStable"
    return {
        "phase": "Succeeded" if stable.ready else "Pending",
        "stableVersion": stable_version,
        "stableUri": stable_uri,
        "canaryWeight": 0,
        "observedGeneration": generation,
        "message": f"version {stable_version}: {stable.message}",
        "conditions": with_other_conditions(
            [
                condition("Ready", ready, reason, stable.message, now=now, previous=previous_conditions),
                condition(
                    "Progressing", progressing, reason, stable.message, now=now, previous=previous_conditions
                ),
                condition("Degraded", "False", "Healthy", "", now=now, previous=previous_conditions),
            ],
            previous_conditions,
        ),
    }


def replica_status(stable_deployment: dict[str, Any] | None) -> dict[str, int]:
    """status.replicas (Ready stable pods) and status.desiredReplicas (what the Deployment, or the
    autoscaler through it, asks for now): the `kubectl get md` columns."""
    spec = (stable_deployment or {}).get("spec", {})
    ready = (stable_deployment or {}).get("status", {}).get("readyReplicas", 0)
    return {"replicas": int(ready or 0), "desiredReplicas": int(spec.get("replicas", 0) or 0)}


def invalid_spec_status(
    *, previous: dict[str, Any] | None, generation: int | None, message: str, now: datetime
) -> dict[str, Any]:
    """Degraded with a message that names the field; whatever already runs keeps running."""
    previous_conditions = (previous or {}).get("conditions")
    # The stable pods keep serving, so Ready keeps whatever it said before the bad edit.
    ready: ConditionStatus = next(
        (c["status"] for c in previous_conditions or [] if c.get("type") == "Ready"), "False"
    )
    return {
        "phase": "Degraded",
        "observedGeneration": generation,
        "message": message,
        "conditions": with_other_conditions(
            [
                condition("Ready", ready, "InvalidSpec", message, now=now, previous=previous_conditions),
                condition(
                    "Progressing", "False", "InvalidSpec", message, now=now, previous=previous_conditions
                ),
                condition("Degraded", "True", "InvalidSpec", message, now=now, previous=previous_conditions),
            ],
            previous_conditions,
        ),
    }
