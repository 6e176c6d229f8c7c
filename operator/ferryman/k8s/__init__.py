"""The only package that talks to the Kubernetes API server."""

from ferryman.k8s.objects import (
    ClusterRefused,
    KindNotServed,
    NotFound,
    NotOwned,
    apply,
    get,
    patch_metadata,
    patch_status,
    scale,
)
from ferryman.k8s.resources import KNOWN_KINDS, ResourceKind, kind_of

MODEL_DEPLOYMENT = KNOWN_KINDS[("ferryman.dev/v1alpha1", "ModelDeployment")]
DEPLOYMENT = KNOWN_KINDS[("apps/v1", "Deployment")]

__all__ = [
    "DEPLOYMENT",
    "KNOWN_KINDS",
    "MODEL_DEPLOYMENT",
    "ClusterRefused",
    "KindNotServed",
    "NotFound",
    "NotOwned",
    "ResourceKind",
    "apply",
    "get",
    "kind_of",
    "patch_metadata",
    "patch_status",
    "scale",
]
