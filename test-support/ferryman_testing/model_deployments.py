"""Reading a ModelDeployment's status back through kubectl, and waiting on it (manifests: manifests.py)."""

from __future__ import annotations

from typing import Any

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.polling import wait_for

# The header of `kubectl get md` (the CRD's printer columns), as the cluster tests expect it.
PRINTER_COLUMNS = [
    "NAME",
    "PHASE",
    "WEIGHT",
    "STABLE",
    "CANARY",
    "ALIAS",
    "REPLICAS",
    "DESIRED",
    "AGE",
]

# The canary's interval in the ModelDeployment schema (kube_cli.schema_without_rules takes such paths).
CANARY_INTERVAL_FIELD = "/strategy/properties/canary/properties/interval"


def status_of(kubectl: Kubectl, namespace: str, name: str = "fraud") -> dict[str, Any]:
    return dict(kubectl.get("modeldeployment", name, namespace).get("status") or {})


def is_ready(status: dict[str, Any]) -> bool:
    """Whether a ModelDeployment's status has condition Ready True."""
    return condition_of(status, "Ready").get("status") == "True"


def wait_until_serving(
    kubectl: Kubectl,
    namespace: str,
    version: str | None = None,
    name: str = "fraud",
    *,
    uri: str | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    """The status once Ready (the rollout Succeeded), with that stable version and URI when given."""

    def serving() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        right_version = version is None or status.get("stableVersion") == version
        right_uri = uri is None or status.get("stableUri") == uri
        return status if is_ready(status) and right_version and right_uri else None

    what = f"ModelDeployment {name} Ready" + (f" serving {uri}" if uri else "")
    return wait_for(what, serving, timeout=timeout)


def wait_until_degraded(kubectl: Kubectl, namespace: str, name: str = "fraud") -> dict[str, Any]:
    def degraded() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        return status if status.get("phase") == "Degraded" else None

    return wait_for(f"ModelDeployment {name} Degraded", degraded, timeout=60)


def condition_of(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """The status condition of that type, or {} when there is none."""
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def served_uri(deployment: dict[str, Any]) -> str | None:
    """The model URI a serving Deployment gives its pods (FERRYMAN_MODEL_URI)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return next((e.get("value") for e in container.get("env", []) if e["name"] == "FERRYMAN_MODEL_URI"), None)


def track_uri(kubectl: Kubectl, namespace: str, track: str, name: str = "fraud") -> str | None:
    """The model URI of a track's Deployment (None until it exists)."""
    listing = kubectl.get_json("deployments", "-n", namespace)
    wanted = f"{name}-{track}"
    return next((served_uri(d) for d in listing["items"] if d["metadata"]["name"] == wanted), None)
