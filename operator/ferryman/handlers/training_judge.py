"""TrainingJob handlers, second half: judge the run MLflow holds, move the alias, wait for approval.

A timer ticks on TrainingJobs in phase Validating or AwaitingApproval. Each tick reads what it needs
from the registry, writes to the registry (aliases, version tags) and then the status; a tick that
loses a status race does it all again from the fresh status, and every registry write is idempotent.
An unreachable MLflow leaves the phase as it is, says so in condition MlflowReachable, and retries.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import kopf

from ferryman import k8s
from ferryman.api import ACTION_ANNOTATION, GROUP, VERSION, TrainingJob, redact_urls_in_text
from ferryman.api import training_contract as contract
from ferryman.builders.status import condition, with_other_conditions
from ferryman.builders.training_phase import (
    Judgement,
    RunFacts,
    judge_approval,
    judge_run,
    judgement_status,
    no_run_message,
    version_not_from_run,
)
from ferryman.config import Settings
from ferryman.handlers.status_writes import write_status
from ferryman.registry.mlflow import AliasNotFound, MlflowRegistry, RegistryError

PLURAL = "trainingjobs"
TICK_SECONDS = 2.0
RETRY_SECONDS = 10.0
ACTIONS = ("approve", "reject")
EVENT_TYPES = {"Rejected": "Warning", "Failed": "Warning"}
_registries_lock = threading.Lock()


def awaits_registry(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") in ("Validating", "AwaitingApproval")


def registry_for(memo: kopf.Memo, tracking_uri: str) -> MlflowRegistry:
    """One client (and connection pool) per tracking server, shared by every TrainingJob that uses it."""
    config: Settings = memo.config
    with _registries_lock:
        clients: dict[str, MlflowRegistry] = memo.setdefault("training_registries", {})
        if tracking_uri not in clients:
            clients[tracking_uri] = MlflowRegistry(
                tracking_uri, config.mlflow_tracking_token, config.registry_timeout_seconds
            )
        return clients[tracking_uri]


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, when=awaits_registry)
def judge_training_job(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    previous = dict(body.status)
    try:
        tj = TrainingJob.model_validate(body)
    except ValueError:  # the create handler reports an invalid spec
        return
    waiting = previous.get("phase") == "AwaitingApproval"
    # An action set before the wait began is kept for it: a person may approve while the gates are judged.
    action = (tj.metadata.annotations or {}).get(ACTION_ANNOTATION) if waiting else None
    if waiting and action not in ACTIONS:
        return
    registry = registry_for(memo, tj.spec.mlflow.tracking_uri)
    now = datetime.now(UTC)
    try:
        if not waiting:
            judgement = read_and_judge(tj, registry, now)
        else:
            judgement = judge_approval(tj, "approve" if action == "approve" else "reject", previous, now)
        carry_out(tj, registry, judgement)
    except RegistryError as error:
        _unreachable(body, previous, str(error), now)
        raise kopf.TemporaryError(f"MLflow: {error}", delay=RETRY_SECONDS) from error
    desired = judgement_status(judgement, previous, now)
    desired["conditions"] = _reachable(desired["conditions"], now)
    write_status(body, desired, kind=k8s.TRAINING_JOB)
    if action is not None:
        # Handled: cleared so that a later tick (or a later TrainingJob phase) never acts on it again.
        k8s.patch_metadata(k8s.TRAINING_JOB, tj.metadata.namespace, tj.metadata.name, _cleared())
    logger.info(
        "training job %s: %s", judgement.phase, judgement.message, extra={"decision": judgement.reason}
    )
    kopf.event(
        body,
        type=EVENT_TYPES.get(judgement.phase, "Normal"),
        reason=judgement.reason,
        message=judgement.message,
    )


def read_and_judge(tj: TrainingJob, registry: MlflowRegistry, now: datetime) -> Judgement:
    """The run of this TrainingJob (by its uid tag), its version checked in the registry, then the gates."""
    run = registry.find_run(
        tj.spec.mlflow.experiment, contract.RUN_TAG_TRAINING_JOB_UID, tj.metadata.uid or ""
    )
    if run is None:
        return Judgement(phase="Failed", reason="NoRun", message=no_run_message(tj))
    champion = _champion_version(tj, registry)
    judgement = judge_run(tj, RunFacts(run.run_id, run.metrics, run.tags, champion), now)
    if judgement.model_version is None:
        return judgement
    try:
        found = registry.model_version(tj.spec.mlflow.registered_model, judgement.model_version)
    except RegistryError as error:
        if error.status is None or error.status >= 500:
            raise
        return version_not_from_run(tj, run.run_id, judgement.model_version, None, str(error)) or judgement
    return version_not_from_run(tj, run.run_id, judgement.model_version, found.run_id) or judgement


def _champion_version(tj: TrainingJob, registry: MlflowRegistry) -> str | None:
    """With mustBeatChampion, the version the promote alias names now (None: no such alias yet)."""
    if tj.spec.validation.must_beat_champion is None or tj.spec.promote is None:
        return None
    try:
        return registry.alias_target(tj.spec.mlflow.registered_model, tj.spec.promote.alias).version
    except AliasNotFound:
        return None


def carry_out(tj: TrainingJob, registry: MlflowRegistry, judgement: Judgement) -> None:
    """Version tags first, then the aliases in order: a version is never promoted untagged."""
    model, version = tj.spec.mlflow.registered_model, judgement.model_version
    if not version:
        return
    for key, value in judgement.version_tags.items():
        registry.set_version_tag(model, version, key, value)
    for alias in judgement.aliases:
        registry.set_alias(model, alias, version)


def _reachable(conditions: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    entry = condition("MlflowReachable", "True", "Answered", "MLflow answered", now=now, previous=conditions)
    return with_other_conditions([entry], conditions)


def _unreachable(body: kopf.Body, previous: dict[str, Any], error: str, now: datetime) -> None:
    """Condition MlflowReachable False (an Event when it turns so); the phase stays for the retry."""
    before = list(previous.get("conditions") or [])
    message = redact_urls_in_text(f"{error}; retrying every {RETRY_SECONDS:g}s")
    entry = condition("MlflowReachable", "False", "RegistryError", message, now=now, previous=before)
    was: dict[str, Any] = next((c for c in before if c.get("type") == "MlflowReachable"), {})
    write_status(body, {"conditions": with_other_conditions([entry], before)}, kind=k8s.TRAINING_JOB)
    if was.get("status") != "False":
        kopf.event(body, type="Warning", reason="MlflowUnreachable", message=message)


def _cleared() -> dict[str, Any]:
    return {"annotations": {ACTION_ANNOTATION: None}}
