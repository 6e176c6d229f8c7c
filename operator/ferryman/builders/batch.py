"""The CronJob that runs spec.batch: pure, from the ModelDeployment, stable's pinned URI and the settings.

Each run is an Indexed Job: pod i scores shard i of `parallelism` (Kubernetes sets JOB_COMPLETION_INDEX),
a failed pod is retried alone (backoffLimitPerIndex) and the last shard to finish writes the manifest.
The model is the URI stable serves, pinned: `models:/NAME/N`, never an alias (which could move during a
run and split it across versions) and never the canary (batch answers must agree with what users get).
"""

from __future__ import annotations

from typing import Any

from ferryman.api import ModelDeployment, redact_uri
from ferryman.api.batch import BatchSpec
from ferryman.api.model_source import parse_model_uri
from ferryman.api.serving import BATCH_ENTRYPOINT, DEFAULT_BATCH_IMAGE, OPERATOR_ENV_NAMES
from ferryman.builders.naming import (
    LABEL_MANAGED_BY,
    LABEL_MODEL_DEPLOYMENT,
    MANAGED_BY,
    bounded_name,
    label_value,
)
from ferryman.builders.ownership import owner_reference
from ferryman.builders.pod_security import restricted_container_security, restricted_pod_security
from ferryman.config import Settings

CRONJOB_SUFFIX = "-batch"
# A CronJob's Jobs are named <cronjob>-<minutes since 1970> (11 more characters), and Job names end up in
# a label value (63): 52 is the longest CronJob name Kubernetes accepts.
MAX_CRONJOB_NAME = 52
LABEL_BATCH = "ferryman.dev/batch"
ANNOTATION_MODEL_URI = "ferryman.dev/model-uri"
ANNOTATION_MODEL_VERSION = "ferryman.dev/model-version"
BATCH_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_BATCH}"


def cronjob_name(md_name: str) -> str:
    """`<name>-batch`, shortened with a hash of the full name when it would not fit."""
    return bounded_name(md_name, CRONJOB_SUFFIX, MAX_CRONJOB_NAME)


def batch_labels(md: ModelDeployment) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL_DEPLOYMENT: label_value(md.metadata.name),
        LABEL_BATCH: label_value(md.metadata.name),
        "app.kubernetes.io/name": "ferryman-batch",
    }


def pinned_batch_uri(stable_uri: str | None) -> str:
    """stable's URI if it names one fixed model; ValueError (naming what to do) otherwise."""
    if not stable_uri:
        raise ValueError("spec.batch: waiting for stable to serve a version (status.stableUri is empty)")
    if parse_model_uri(stable_uri).tracks_alias:
        raise ValueError(
            f"spec.batch: stable's URI {redact_uri(stable_uri)} is an alias; batch scores a pinned "
            "models:/NAME/N only (the operator pins aliases when it has a registry: set "
            "FERRYMAN_MLFLOW_TRACKING_URI)"
        )
    return stable_uri


def batch_args(batch: BatchSpec, model_uri: str, model_version: str) -> list[str]:
    """The scorer's arguments; the run id is the Job's name, so a rerun replaces the last result."""
    args = [
        "--model", model_uri, "--model-version", model_version,
        "--input", batch.input.uri, "--output", batch.output.uri, "--run-id", "$(FERRYMAN_BATCH_RUN_ID)",
    ]  # fmt: skip
    if batch.features:
        args += ["--features", ",".join(batch.features)]
    if batch.passthrough:
        args += ["--passthrough", ",".join(batch.passthrough)]
    if batch.engine == "spark":
        return [*args, "--engine", "spark", "--spark-master", f"local[{batch.parallelism}]"]
    return [*args, "--shards", str(batch.parallelism)]


def _container(
    md: ModelDeployment, batch: BatchSpec, model_uri: str, version: str, settings: Settings
) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {
            "name": "FERRYMAN_BATCH_RUN_ID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}},
        },
    ]
    if settings.mlflow_tracking_uri:
        env.append({"name": "FERRYMAN_MLFLOW_TRACKING_URI", "value": settings.mlflow_tracking_uri})
    # The serving pods' extra environment (FERRYMAN_S3_* from a Secret, say): batch reads the same model
    # from the same store, and its s3:// input and output use the same settings.
    reserved = {*OPERATOR_ENV_NAMES, "FERRYMAN_BATCH_RUN_ID"}
    user_env = [var for var in md.spec.serving.env or [] if var.name not in reserved]
    env.extend(var.model_dump(by_alias=True, exclude_none=True) for var in user_env)
    resources = (
        batch.resources.model_dump(by_alias=True, exclude_none=True)
        if batch.resources is not None
        else {kind: dict(amounts) for kind, amounts in settings.serving_default_resources.items()}
    )
    return {
        "name": "batch",
        "image": batch.image or DEFAULT_BATCH_IMAGE,
        "command": list(BATCH_ENTRYPOINT),
        "args": batch_args(batch, model_uri, version),
        "env": env,
        "resources": resources,
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _job_spec(
    md: ModelDeployment, batch: BatchSpec, container: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    pod = {
        "metadata": {"labels": batch_labels(md)},
        "spec": {
            "containers": [container],
            "restartPolicy": "Never",
            "securityContext": restricted_pod_security(),
            "automountServiceAccountToken": False,
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": settings.serving_tmp_size_limit}}],
        },
    }
    if batch.engine == "spark":  # one pod; Spark spreads the work over its local cores
        return {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": batch.backoff_limit_per_index,
            "template": pod,
        }
    return {
        "completionMode": "Indexed",
        "completions": batch.parallelism,
        "parallelism": batch.parallelism,
        # Per index: a failed shard is retried alone, the finished ones are kept.
        "backoffLimitPerIndex": batch.backoff_limit_per_index,
        "template": pod,
    }


def build_batch_cronjob(
    md: ModelDeployment, stable_uri: str | None, stable_version: str, settings: Settings
) -> dict[str, Any]:
    """The owned CronJob that scores spec.batch.input with stable's pinned version on spec.batch.schedule."""
    batch = md.spec.batch
    if batch is None:
        raise ValueError("spec.batch is not set")
    model_uri = pinned_batch_uri(stable_uri)
    container = _container(md, batch, model_uri, stable_version, settings)
    labels = batch_labels(md)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(md.metadata.name),
            "namespace": md.metadata.namespace,
            "labels": labels,
            "annotations": {
                ANNOTATION_MODEL_URI: redact_uri(model_uri),
                ANNOTATION_MODEL_VERSION: stable_version,
            },
            "ownerReferences": [owner_reference(md)],
        },
        "spec": {
            "schedule": batch.schedule,
            "timeZone": "Etc/UTC",
            # A run still going when the next is due keeps going; two runs would write one output.
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": _job_spec(md, batch, container, settings),
            },
        },
    }
