"""Pure builders of the serving Deployment and Services of a ModelDeployment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ferryman.api import ModelDeployment, redact_uri
from ferryman.api.serving import OPERATOR_ENV_NAMES
from ferryman.builders.naming import (
    ANNOTATION_MODEL_URI,
    LABEL_TRACK,
    LABEL_VERSION,
    Track,
    deployment_name,
    label_value,
    owned_labels,
    selector_labels,
    service_name,
    track_selector_labels,
    track_service_name,
)
from ferryman.builders.ownership import controlling_owner, owner_reference
from ferryman.builders.pod_security import restricted_container_security, restricted_pod_security
from ferryman.config import Settings

HTTP_PORT_NAME = "http"
# After the server's graceful timeout it still has to close and exit; the kubelet's SIGKILL must not
# arrive before that.
SHUTDOWN_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class ServingTarget:
    """One track of a ModelDeployment: which model it serves and with how many replicas.

    replicas None: an autoscaler owns the count, and the Deployment is built without it.
    """

    track: Track
    model_uri: str
    model_version: str
    replicas: int | None


def controlling_model_deployment(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the ModelDeployment that controls obj (ownership.controlling_owner)."""
    return controlling_owner(obj, ModelDeployment.KIND)


def _metadata(md: ModelDeployment, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": md.metadata.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(md)],
    }


def build_serving_deployment(
    md: ModelDeployment, target: ServingTarget, settings: Settings
) -> dict[str, Any]:
    """The Deployment that serves one track's model version."""
    name = md.metadata.name
    pod_labels = {
        **owned_labels(name),
        LABEL_TRACK: target.track,
        LABEL_VERSION: label_value(target.model_version),
    }
    spec: dict[str, Any] = {} if target.replicas is None else {"replicas": target.replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(md, deployment_name(name, target.track), pod_labels),
        "spec": {
            # Left out under an autoscaler: server-side apply then leaves the field to the HPA controller.
            **spec,
            "selector": {"matchLabels": track_selector_labels(name, target.track)},
            # Never take a serving pod away before its replacement is Ready.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        **(md.spec.serving.pod_annotations or {}),
                        # For people reading the pod; the server reads FERRYMAN_MODEL_URI, whole.
                        ANNOTATION_MODEL_URI: redact_uri(target.model_uri),
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(md.spec.serving.port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": _pod_spec(md, target, settings),
            },
        },
    }


def _pod_spec(md: ModelDeployment, target: ServingTarget, settings: Settings) -> dict[str, Any]:
    serving = md.spec.serving
    container: dict[str, Any] = {
        "name": "serving",
        "image": serving.image,
        "command": list(settings.serving_command),
        "env": _serving_env(md, target, settings),
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": serving.port, "protocol": "TCP"}],
        "readinessProbe": _http_probe("/v2/health/ready", serving.port, period=2, failures=2),
        "livenessProbe": _http_probe("/v2/health/live", serving.port, period=10, failures=3),
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if serving.resources is not None:
        container["resources"] = serving.resources.model_dump(by_alias=True, exclude_none=True)
    else:
        container["resources"] = {
            kind: dict(amounts) for kind, amounts in settings.serving_default_resources.items()
        }
    return {
        "containers": [container],
        "securityContext": restricted_pod_security(),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": termination_grace_seconds(settings),
        # /tmp holds the downloaded model: bounded, so one pod cannot fill the node's disk.
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": settings.serving_tmp_size_limit}}],
    }


def termination_grace_seconds(settings: Settings) -> int:
    """Long enough for the pod to drain, finish in-flight requests and exit before the kubelet kills it."""
    shutdown = settings.serving_drain_seconds + settings.serving_graceful_timeout_seconds
    return math.ceil(shutdown) + SHUTDOWN_MARGIN_SECONDS


def check_model_source(md: ModelDeployment, settings: Settings) -> None:
    """What the schema cannot know: whether this operator can reach the model's registry."""
    if md.spec.model.parsed().is_registry and not settings.mlflow_tracking_uri:
        raise ValueError(
            f"spec.model.uri: {redact_uri(md.spec.model.uri)} names an MLflow registry model, but this "
            "operator has no registry (set FERRYMAN_MLFLOW_TRACKING_URI on the operator) - or use an "
            "s3://, https:// or file:/// URI"
        )


def served_model_of(deployment: dict[str, Any]) -> tuple[str, str]:
    """(version, model URI) a serving Deployment we built runs, read back from its pod template.

    The URI comes from the container's environment, whole: the annotation is redacted for display.
    """
    template = deployment.get("spec", {}).get("template", {})
    version = str(template.get("metadata", {}).get("labels", {}).get(LABEL_VERSION, ""))
    containers = template.get("spec", {}).get("containers") or [{}]
    env = {var.get("name"): var.get("value") for var in containers[0].get("env") or []}
    return version, str(env.get("FERRYMAN_MODEL_URI") or "")


def deploying_message(target: ServingTarget) -> str:
    """The Event message when the stable track starts serving a version (credentials never shown)."""
    return f"serving version {target.model_version} from {redact_uri(target.model_uri)}"


def served_model_name(md: ModelDeployment) -> str:
    """The name clients use in /v2/models/NAME: explicit, else the registered model, else the resource's."""
    model = md.spec.model
    return model.name or model.parsed().registered_model or md.metadata.name


def _serving_env(md: ModelDeployment, target: ServingTarget, settings: Settings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "FERRYMAN_MODEL_URI", "value": target.model_uri},
        {"name": "FERRYMAN_MODEL_NAME", "value": served_model_name(md)},
        {"name": "FERRYMAN_MODEL_VERSION", "value": target.model_version},
        {"name": "FERRYMAN_PORT", "value": str(md.spec.serving.port)},
        # Bind to the pod IP: in a real pod that is the pod's own interface, and on the local
        # cluster several pods share one node network namespace.
        {"name": "FERRYMAN_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        # Set here so that terminationGracePeriodSeconds is computed from what the server really uses.
        {"name": "FERRYMAN_DRAIN_SECONDS", "value": str(settings.serving_drain_seconds)},
        {
            "name": "FERRYMAN_GRACEFUL_TIMEOUT_SECONDS",
            "value": str(settings.serving_graceful_timeout_seconds),
        },
    ]
    if settings.mlflow_tracking_uri:
        env.append({"name": "FERRYMAN_MLFLOW_TRACKING_URI", "value": settings.mlflow_tracking_uri})
    # Validation refuses user entries of these names; skipping them here keeps the guarantee local.
    user_env = [var for var in md.spec.serving.env or [] if var.name not in OPERATOR_ENV_NAMES]
    env.extend(var.model_dump(by_alias=True, exclude_none=True) for var in user_env)
    return env


def _http_probe(path: str, port: int, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 1,
    }


def build_service(md: ModelDeployment, *, canary_gets_traffic: bool = False) -> dict[str, Any]:
    """The Service clients call: the stable pods, plus the canary's while it has a traffic share."""
    name = md.metadata.name
    selector = selector_labels(name) if canary_gets_traffic else track_selector_labels(name, "stable")
    return service_manifest(md, service_name(name), selector)


def build_track_service(md: ModelDeployment, track: Track) -> dict[str, Any]:
    """A Service for one track only (Gateway API backends, per-track analysis)."""
    name = md.metadata.name
    return service_manifest(md, track_service_name(name, track), track_selector_labels(name, track))


def service_manifest(md: ModelDeployment, name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A ClusterIP Service on port 80 to the serving port of the selected pods."""
    port = md.spec.serving.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(md, name, owned_labels(md.metadata.name)),
        "spec": {
            "selector": selector,
            "ports": [{"name": HTTP_PORT_NAME, "port": 80, "targetPort": port, "protocol": "TCP"}],
        },
    }
