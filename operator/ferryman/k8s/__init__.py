"""The only package that talks to the Kubernetes API server."""

from ferryman.k8s.objects import (
    ClusterRefused,
    Conflict,
    KindNotServed,
    NotFound,
    NotOwned,
    apply,
    create,
    delete,
    get,
    list_objects,
    patch_metadata,
    patch_status,
    replace,
    scale,
)
from ferryman.k8s.resources import KNOWN_KINDS, ResourceKind, kind_of

MODEL_DEPLOYMENT = KNOWN_KINDS[("ferryman.dev/v1alpha1", "ModelDeployment")]
DEPLOYMENT = KNOWN_KINDS[("apps/v1", "Deployment")]
TRAINING_JOB = KNOWN_KINDS[("ferryman.dev/v1alpha1", "TrainingJob")]
JOB = KNOWN_KINDS[("batch/v1", "Job")]
EVENT = KNOWN_KINDS[("v1", "Event")]
LEASE = KNOWN_KINDS[("coordination.k8s.io/v1", "Lease")]
SERVICE = KNOWN_KINDS[("v1", "Service")]
ENDPOINT_SLICE = KNOWN_KINDS[("discovery.k8s.io/v1", "EndpointSlice")]
CRON_JOB = KNOWN_KINDS[("batch/v1", "CronJob")]
DRIFT_MONITOR = KNOWN_KINDS[("ferryman.dev/v1alpha1", "DriftMonitor")]
HORIZONTAL_POD_AUTOSCALER = KNOWN_KINDS[("autoscaling/v2", "HorizontalPodAutoscaler")]
SCALED_OBJECT = KNOWN_KINDS[("keda.sh/v1alpha1", "ScaledObject")]

__all__ = [
    "CRON_JOB",
    "DEPLOYMENT",
    "DRIFT_MONITOR",
    "ENDPOINT_SLICE",
    "HORIZONTAL_POD_AUTOSCALER",
    "JOB",
    "KNOWN_KINDS",
    "LEASE",
    "MODEL_DEPLOYMENT",
    "SCALED_OBJECT",
    "SERVICE",
    "TRAINING_JOB",
    "ClusterRefused",
    "Conflict",
    "KindNotServed",
    "NotFound",
    "NotOwned",
    "ResourceKind",
    "apply",
    "create",
    "delete",
    "get",
    "kind_of",
    "list_objects",
    "patch_metadata",
    "patch_status",
    "replace",
    "scale",
]
