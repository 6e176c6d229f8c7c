"""The batch/v1 Job that runs a TrainingJob's trainer: pure, from the spec and the operator's settings."""

from __future__ import annotations

import json
from typing import Any

from ferryman.api import TrainingJob
from ferryman.api import training_contract as contract
from ferryman.builders.naming import LABEL_MANAGED_BY, MANAGED_BY, bounded_name, label_value
from ferryman.builders.ownership import controlling_owner, owner_reference
from ferryman.config import Settings

LABEL_TRAINING_JOB = "ferryman.dev/training-job"
# The Jobs the operator watches: ones it made for a TrainingJob. One dict for the handler's filter and the
# API server's label selector (the value, the TrainingJob's name, is only required to be there).
TRAINING_JOB_LABELS = {LABEL_MANAGED_BY: MANAGED_BY}
TRAINING_JOB_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_TRAINING_JOB}"
JOB_SUFFIX = "-train"
MAX_JOB_NAME = 63  # a Job's pods get a label job-name=<name>, and label values stop at 63
# Bad data or a broken environment fail the same way on every retry: the Job fails at once on those codes.
NO_RETRY_POLICY = {
    "rules": [
        {
            "action": "FailJob",
            "onExitCodes": {
                "operator": "In",
                "values": [contract.EXIT_DATA_CHECK_FAILED, contract.EXIT_CONTRACT_ERROR],
            },
        }
    ]
}


def job_name(tj_name: str) -> str:
    """`<name>-train`, shortened with a hash of the full name when it would not fit a label value."""
    return bounded_name(tj_name, JOB_SUFFIX, MAX_JOB_NAME)


def controlling_training_job(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the TrainingJob in obj's controller reference: labels prove nothing, it does."""
    return controlling_owner(obj, TrainingJob.KIND)


def training_labels(tj: TrainingJob) -> dict[str, str]:
    return {
        **TRAINING_JOB_LABELS,
        "app.kubernetes.io/name": "ferryman-training",
        LABEL_TRAINING_JOB: label_value(tj.metadata.name),
    }


def contract_env(tj: TrainingJob, settings: Settings) -> list[dict[str, Any]]:
    """What the trainer needs, under the names of the training contract."""
    spec = tj.spec
    values: list[tuple[str, str]] = [
        (contract.ENV_TRACKING_URI, spec.mlflow.tracking_uri),
        (contract.ENV_EXPERIMENT, spec.mlflow.experiment),
        (contract.ENV_REGISTERED_MODEL, spec.mlflow.registered_model),
        (contract.ENV_TRAINING_JOB, f"{tj.metadata.namespace}/{tj.metadata.name}"),
        (contract.ENV_TRAINING_JOB_UID, tj.metadata.uid or ""),
        (contract.ENV_PARAMS, json.dumps(spec.params, sort_keys=True)),
        (contract.ENV_DATA_CHECKS, json.dumps(_data_checks(tj))),
    ]
    if spec.data is not None:
        values.append((contract.ENV_DATA_URI, spec.data.uri))
        if spec.data.version is not None:
            values.append((contract.ENV_DATA_VERSION, spec.data.version))
    champion = spec.validation.must_beat_champion
    if champion is not None and spec.promote is not None:
        values.append((contract.ENV_CHAMPION_ALIAS, spec.promote.alias))
        values.append((contract.ENV_CHAMPION_METRIC, champion.metric))
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in values]
    if settings.training_token_secret:
        secret, key = settings.training_token_secret.split("/", 1)
        env.append(
            {"name": contract.ENV_TRACKING_TOKEN, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        )
    return env


def _data_checks(tj: TrainingJob) -> list[dict[str, Any]]:
    return [
        check.model_dump(by_alias=True, exclude_none=True, mode="json") for check in tj.spec.validation.data
    ]


def _with_env(container: dict[str, Any], env: list[dict[str, Any]]) -> dict[str, Any]:
    """The contract's entries replace the user's of the same name: the operator's values are the truth."""
    ours = {entry["name"] for entry in env}
    kept = [entry for entry in container.get("env") or [] if entry.get("name") not in ours]
    return {**container, "env": [*kept, *env]}


def build_training_job(tj: TrainingJob, settings: Settings) -> dict[str, Any]:
    """The Job that runs spec.template once (retried backoffLimit times), owned by the TrainingJob."""
    template = tj.spec.template.manifest()
    env = contract_env(tj, settings)
    pod_spec = dict(template["spec"])
    pod_spec["containers"] = [_with_env(container, env) for container in pod_spec["containers"]]
    # A Job's pods may not restart Always; Never makes each retry a new pod that backoffLimit counts.
    pod_spec.setdefault("restartPolicy", "Never")
    labels = training_labels(tj)
    pod_metadata = dict(template.get("metadata") or {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}
    job_spec: dict[str, Any] = {
        "backoffLimit": tj.spec.backoff_limit,
        "template": {"metadata": pod_metadata, "spec": pod_spec},
    }
    if tj.spec.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = tj.spec.active_deadline_seconds
    if pod_spec["restartPolicy"] == "Never":  # the API server allows a podFailurePolicy only then
        job_spec["podFailurePolicy"] = NO_RETRY_POLICY
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(tj.metadata.name),
            "namespace": tj.metadata.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(tj)],
        },
        "spec": job_spec,
    }
