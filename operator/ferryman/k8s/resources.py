"""Where each kind we write lives in the API: a short explicit table instead of discovery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceKind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    when_missing: str = ""
    """The fix to tell the user when the cluster does not serve this kind."""

    def collection_path(self, namespace: str | None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


KNOWN_KINDS: dict[tuple[str, str], ResourceKind] = {
    (k.api_version, k.kind): k
    for k in (
        ResourceKind("v1", "Service", "services"),
        ResourceKind("v1", "Event", "events"),
        ResourceKind("apps/v1", "Deployment", "deployments"),
        ResourceKind("batch/v1", "Job", "jobs"),
        ResourceKind("batch/v1", "CronJob", "cronjobs"),
        ResourceKind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        ResourceKind(
            "keda.sh/v1alpha1",
            "ScaledObject",
            "scaledobjects",
            when_missing=(
                "install KEDA (https://keda.sh/docs/deploy/), or run the operator with autoscaler hpa"
            ),
        ),
        ResourceKind("coordination.k8s.io/v1", "Lease", "leases"),
        ResourceKind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        ResourceKind(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "httproutes",
            when_missing=(
                "install the Gateway API CRDs and a Gateway controller "
                "(https://gateway-api.sigs.k8s.io/guides/), or set spec.traffic.mode: replicas"
            ),
        ),
        ResourceKind(
            "traefik.io/v1alpha1",
            "TraefikService",
            "traefikservices",
            when_missing="install Traefik's CRDs, or set spec.traffic.gateway.mirrorWith: RequestMirror",
        ),
        ResourceKind("ferryman.dev/v1alpha1", "ModelDeployment", "modeldeployments"),
        ResourceKind("ferryman.dev/v1alpha1", "TrainingJob", "trainingjobs"),
        ResourceKind("ferryman.dev/v1alpha1", "DriftMonitor", "driftmonitors"),
    )
}


def kind_of(manifest: dict[str, Any]) -> ResourceKind:
    """The ResourceKind of a manifest; a clear error for a kind this operator never writes."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    try:
        return KNOWN_KINDS[key]
    except KeyError:
        raise ValueError(f"ferryman does not manage {key[1]!r} of apiVersion {key[0]!r}") from None
