"""The only package that talks to the Kubernetes API server."""

from ferryman.k8s.objects import NotFound, apply, delete, get, patch_metadata, patch_status, scale
from ferryman.k8s.resources import KNOWN_KINDS, ResourceKind, kind_of

MODEL_DEPLOYMENT = KNOWN_KINDS[("ferryman.dev/v1alpha1", "ModelDeployment")]
DEPLOYMENT = KNOWN_KINDS[("apps/v1", "Deployment")]
SERVICE = KNOWN_KINDS[("v1", "Service")]

__all__ = [
    "DEPLOYMENT",
    "KNOWN_KINDS",
    "MODEL_DEPLOYMENT",
    "SERVICE",
    "NotFound",
    "ResourceKind",
    "apply",
    "delete",
    "get",
    "kind_of",
    "patch_metadata",
    "patch_status",
    "scale",
]
