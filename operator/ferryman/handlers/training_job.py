"""TrainingJob handlers, first half: start the owned training Job and follow its status.

The second half (training_judge) reads the run from MLflow once the Job succeeded, judges the gates
and moves the alias.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import GROUP, VERSION, TrainingJob, redact_urls_in_text
from ferryman.api import training_contract as contract
from ferryman.builders.naming import LABEL_MANAGED_BY, MANAGED_BY
from ferryman.builders.training_gates import gates_json
from ferryman.builders.training_job import (
    LABEL_TRAINING_JOB,
    build_training_job,
    controlling_training_job,
    job_name,
)
from ferryman.builders.training_phase import (
    TERMINAL_PHASES,
    FailedRunExplained,
    JobOutcome,
    RunFacts,
    completed_after,
    completed_job_events_selector,
    explain_failed_run,
    job_deleted_message,
    job_failed_message,
    job_gone_after_success_message,
    phase_after_job,
    start_status,
    training_status,
)
from ferryman.builders.training_schedule import scheduled_status
from ferryman.config import Settings
from ferryman.handlers.spec_errors import describe_validation_error
from ferryman.handlers.status_writes import write_status
from ferryman.handlers.training_judge import registry_for
from ferryman.registry.mlflow import RegistryError

PLURAL = "trainingjobs"
STATUS_WRITE_ATTEMPTS = 3
EVENT_TYPES = {"Running": "Normal", "Validating": "Normal", "Failed": "Warning"}
JOB_DELETED = "JobDeleted"


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
def start_training_job(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Create the training Job once; a TrainingJob that has finished is left as it is. One with a schedule
    runs no Job itself: its timer (training_schedule) creates a child TrainingJob per scheduled time."""
    config: Settings = memo.config
    previous = dict(body.status)
    if previous.get("phase") in TERMINAL_PHASES or previous.get("phase") == "Scheduled":
        return
    now = datetime.now(UTC)
    try:
        tj = TrainingJob.model_validate(body)
    except (ValidationError, ValueError) as error:
        _fail(body, previous, describe_validation_error(error), now, logger)
    if tj.spec.schedule is not None:
        desired = scheduled_status(tj, now)
        write_status(body, desired, kind=k8s.TRAINING_JOB)
        kopf.event(body, type="Normal", reason="Scheduled", message=desired["message"])
        return
    manifest = build_training_job(tj, config)
    name = manifest["metadata"]["name"]
    # Before the first phase nothing was recorded yet: the Job is applied without asking whether it is there.
    started = previous.get("phase") is not None
    job_missing = started and k8s.get(k8s.JOB, tj.metadata.namespace, name) is None
    if job_missing and previous.get("jobName"):  # deleted while the operator was not watching
        _job_gone(body, previous, name, now, logger)
        return
    # On resume the Job is there already: a Job's template cannot change, so it is not applied again.
    created = not started or job_missing
    if created:
        try:
            k8s.apply(manifest, config.field_manager)
        except kopf.PermanentError as error:
            _fail(body, previous, _refused(error), now, logger)
    _record_start(tj, name, now)
    if created:
        logger.info("training Job %s created", name, extra={"decision": "start_training"})
        kopf.event(body, type="Normal", reason="JobCreated", message=f"training Job {name} created")


def _record_start(tj: TrainingJob, name: str, now: datetime) -> None:
    """Write the start (jobName, startedAt; Pending if nothing else was written), from a fresh read.

    The Job's first event can reach the status between the Job's creation and this write; the lost race
    is decided again here at once, or the status would never name its Job.
    """
    namespace, tj_name = tj.metadata.namespace, tj.metadata.name
    for _ in range(STATUS_WRITE_ATTEMPTS):
        owner = k8s.get(k8s.TRAINING_JOB, namespace, tj_name)
        if owner is None or owner.get("metadata", {}).get("uid") != tj.metadata.uid:
            return
        desired = start_status(dict(owner.get("status") or {}), name, now, tj.metadata.generation)
        if not desired:
            return
        try:
            rv = owner["metadata"]["resourceVersion"]
            k8s.patch_status(k8s.TRAINING_JOB, namespace, tj_name, desired, resource_version=rv)
        except k8s.Conflict:
            continue
        return
    lost = f"the start of {tj_name} lost {STATUS_WRITE_ATTEMPTS} races to be written; retrying"
    raise kopf.TemporaryError(lost, delay=1)


def _job_gone(
    body: kopf.Body, previous: dict[str, Any], name: str, now: datetime, logger: kopf.Logger
) -> None:
    """The Job the status names is gone: before its end that stops the run (as if seen live, in
    training_job_changed); after it, the run is in MLflow and the judge goes on without the Job. A Job
    that ended and went while the operator was not watching shows its end in its Events."""
    if phase_after_job(previous.get("phase"), JobOutcome("deleted")) is None:
        return
    selector = completed_job_events_selector(name)
    events = k8s.list_objects(k8s.EVENT, body.meta.namespace, field_selector=selector)
    if completed_after(events, name, previous.get("startedAt")):
        message = job_gone_after_success_message(name)
        write_status(body, training_status(previous, "Validating", message, now), kind=k8s.TRAINING_JOB)
        logger.info(message, extra={"decision": "validate"})
        kopf.event(body, type=EVENT_TYPES["Validating"], reason="JobValidating", message=message)
        return
    message = job_deleted_message(name)
    write_status(body, training_status(previous, "Failed", message, now), kind=k8s.TRAINING_JOB)
    logger.warning(message, extra={"decision": "failed"})
    kopf.warn(body, reason=JOB_DELETED, message=message)


def _refused(error: kopf.PermanentError) -> str:
    """The cluster refused the Job: a ClusterRefused names the object and the fix already."""
    if isinstance(error, k8s.ClusterRefused):
        return str(error)
    return f"spec.template: the API server refused the training Job built from it: {error}"


def _fail(
    body: kopf.Body, previous: dict[str, Any], message: str, now: datetime, logger: kopf.Logger
) -> NoReturn:
    """Failed with a message naming the field or the object, an Event, and no retry of this spec."""
    message = redact_urls_in_text(message)
    write_status(body, training_status(previous, "Failed", message, now), kind=k8s.TRAINING_JOB)
    logger.warning("training job failed: %s", message, extra={"decision": "failed"})
    kopf.warn(body, reason="InvalidSpec", message=message)
    raise kopf.PermanentError(message)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_TRAINING_JOB: kopf.PRESENT})
def training_job_changed(
    body: kopf.Body, type: str | None, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """The Job's progress moves its TrainingJob: Running, then Validating, or Failed (also when someone
    deletes the Job before it finished: that stops the run).

    Only the controller reference names the owner (labels can be copied). Event handlers are not retried,
    so this one reads the owner fresh and retries a lost race itself.
    """
    job = dict(body)
    controller = controlling_training_job(job)
    deleted = type == "DELETED"
    if controller is None or (job.get("metadata", {}).get("deletionTimestamp") and not deleted):
        return
    tj_name, tj_uid = controller
    if job.get("metadata", {}).get("name") != job_name(tj_name):
        return
    outcome = JobOutcome.of(job, deleted=deleted)
    diagnosis: FailedRunExplained | None = None
    for attempt in range(STATUS_WRITE_ATTEMPTS):
        owner = k8s.get(k8s.TRAINING_JOB, namespace, tj_name)
        metadata = (owner or {}).get("metadata", {})
        # A TrainingJob being deleted takes its Job with it: that is no run stopped by a person.
        if owner is None or metadata.get("uid") != tj_uid or metadata.get("deletionTimestamp"):
            return
        previous = dict(owner.get("status") or {})
        phase = phase_after_job(previous.get("phase"), outcome)
        if phase is None:
            return
        if outcome.state == "failed" and attempt == 0:
            diagnosis = _explained(owner, memo)
        message = _job_message(owner, job_name(tj_name), phase, outcome)
        fields = {}
        if diagnosis is not None:
            message = f"{diagnosis.message} ({message})"
            if diagnosis.gates:
                fields["gates"] = gates_json(diagnosis.gates)
        desired = training_status(previous, phase, message, datetime.now(UTC), **fields)
        try:
            rv = owner["metadata"]["resourceVersion"]
            k8s.patch_status(k8s.TRAINING_JOB, namespace, tj_name, desired, resource_version=rv)
        except kopf.TemporaryError:  # a conflict: someone wrote first; read again and decide again
            continue
        kopf.event(
            kopf.Body(cast(kopf.RawBody, owner)),
            type=EVENT_TYPES[phase],
            reason=_event_reason(phase, outcome, diagnosis),
            message=message,
        )
        return


def _explained(owner: dict[str, Any], memo: kopf.Memo) -> FailedRunExplained | None:
    """Why the failed Job's trainer stopped, from the run MLflow holds (best effort: an unreachable
    MLflow leaves the Job's own message, which already says where the trainer's output is)."""
    try:
        tj = TrainingJob.model_validate(owner)
        registry = registry_for(memo, tj.spec.mlflow.tracking_uri)
        run = registry.find_run(
            tj.spec.mlflow.experiment, contract.RUN_TAG_TRAINING_JOB_UID, tj.metadata.uid or ""
        )
    except (ValueError, RegistryError):
        return None
    facts = None if run is None else RunFacts(run.run_id, run.metrics, run.tags)
    return explain_failed_run(tj, facts)


def _event_reason(phase: str, outcome: JobOutcome, diagnosis: FailedRunExplained | None) -> str:
    if diagnosis is not None:
        return diagnosis.reason
    return JOB_DELETED if outcome.state == "deleted" else f"Job{phase}"


def _job_message(owner: dict[str, Any], name: str, phase: str, outcome: JobOutcome) -> str:
    if outcome.state == "deleted":
        return job_deleted_message(name)
    if phase == "Running":
        return f"training Job {name} is running"
    if phase == "Validating":
        return f"training Job {name} succeeded; reading its run from MLflow to judge the gates"
    backoff = int((owner.get("spec") or {}).get("backoffLimit", 1))
    return job_failed_message(name, outcome, backoff)
