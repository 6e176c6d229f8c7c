"""The only package that talks to the Kubernetes API server."""

from ferryman.k8s.objects import (
    ClusterRefused,
    KindNotServed,
    NotFound,
    NotOwned,
    apply,
    delete,
    get,
    list_objects,
    patch_metadata,
    patch_status,
    scale,
)
from ferryman.k8s.resources import KNOWN_KINDS, ResourceKind, kind_of

MODEL_DEPLOYMENT = KNOWN_KINDS[("ferryman.dev/v1alpha1", "ModelDeployment")]
DEPLOYMENT = KNOWN_KINDS[("apps/v1", "Deployment")]
TRAINING_JOB = KNOWN_KINDS[("ferryman.dev/v1alpha1", "TrainingJob")]
JOB = KNOWN_KINDS[("batch/v1", "Job")]
CRON_JOB = KNOWN_KINDS[("batch/v1", "CronJob")]
DRIFT_MONITOR = KNOWN_KINDS[("ferryman.dev/v1alpha1", "DriftMonitor")]

__all__ = [
    "CRON_JOB",
    "DEPLOYMENT",
    "DRIFT_MONITOR",
    "JOB",
    "KNOWN_KINDS",
    "MODEL_DEPLOYMENT",
    "TRAINING_JOB",
    "ClusterRefused",
    "KindNotServed",
    "NotFound",
    "NotOwned",
    "ResourceKind",
    "apply",
    "delete",
    "get",
    "kind_of",
    "list_objects",
    "patch_metadata",
    "patch_status",
    "scale",
]
