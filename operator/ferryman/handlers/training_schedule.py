"""Recurring TrainingJobs: a timer on every TrainingJob in phase Scheduled starts, skips and prunes its runs.

The decisions are pure (builders/training_schedule); this module reads the children, carries the decision
out in a safe order (delete old runs, create the new one, then write the status) and tells what it did.
A tick repeated after a failed status write creates nothing twice: a run's name is its scheduled time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from ferryman import k8s
from ferryman.api import GROUP, VERSION, TrainingJob
from ferryman.api.vocabulary import format_timestamp
from ferryman.builders.naming import label_value
from ferryman.builders.training_schedule import (
    LABEL_SCHEDULED_BY,
    ScheduleDecision,
    build_scheduled_run,
    decide_schedule,
    schedule_message,
    scheduled_runs,
)
from ferryman.config import Settings
from ferryman.handlers.spec_errors import describe_validation_error
from ferryman.handlers.status_writes import write_status

PLURAL = "trainingjobs"
TICK_SECONDS = 5.0


def is_schedule(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == "Scheduled"


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, when=is_schedule)
def run_schedule(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    try:
        tj = TrainingJob.model_validate(body)
    except ValueError as error:  # an edit the API server let through (spec.schedule "0 0 31 2 *")
        _report_invalid(body, describe_validation_error(error))
        return
    namespace, name = tj.metadata.namespace, tj.metadata.name
    if tj.spec.schedule is None:
        message = "spec.schedule was removed: no further runs"
        write_status(body, {"message": message, "nextScheduleTime": None}, kind=k8s.TRAINING_JOB)
        return
    config: Settings = memo.config
    now = datetime.now(UTC)
    children = k8s.list_objects(k8s.TRAINING_JOB, namespace, f"{LABEL_SCHEDULED_BY}={label_value(name)}")
    since = body.status.get("lastScheduleTime") or body.metadata.get("creationTimestamp")
    decision = decide_schedule(
        tj.spec.schedule,
        datetime.strptime(str(since), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        now,
        scheduled_runs(tj.metadata.uid or "", children),
        tj.spec.successful_runs_history_limit,
        tj.spec.failed_runs_history_limit,
    )
    by_name = {child["metadata"]["name"]: child for child in children}
    for old in decision.delete:
        k8s.delete(k8s.TRAINING_JOB, namespace, old, by_name[old]["metadata"]["uid"])
    started = _start(tj, decision, config) if decision.start is not None else None
    desired = {
        "lastScheduleTime": format_timestamp(decision.handled),
        "nextScheduleTime": format_timestamp(decision.next_run),
        "activeRun": started or decision.active,
        "message": schedule_message(decision, started),
    }
    write_status(body, desired, kind=k8s.TRAINING_JOB)
    _tell(body, logger, decision, started)


def _report_invalid(body: kopf.Body, problem: str) -> None:
    """Runs stop until the spec is fixed, and the status and a Warning say why; the phase stays Scheduled,
    so the fixed spec resumes them (the create handler ran long ago, and no update handler checks)."""
    message = f"{problem}; no runs until it is fixed"
    if body.status.get("message") == message:
        return
    write_status(body, {"message": message, "nextScheduleTime": None}, kind=k8s.TRAINING_JOB)
    kopf.warn(body, reason="InvalidSpec", message=message)


def _start(tj: TrainingJob, decision: ScheduleDecision, config: Settings) -> str:
    assert decision.start is not None
    manifest = build_scheduled_run(tj, decision.start)
    k8s.apply(manifest, config.field_manager)
    return str(manifest["metadata"]["name"])


def _tell(body: kopf.Body, logger: kopf.Logger, decision: ScheduleDecision, started: str | None) -> None:
    """An Event for each run started or skipped and each run deleted; nothing on a quiet tick."""
    if started is not None:
        message = f"started run {started} for {format_timestamp(decision.handled)}"
        logger.info(message, extra={"decision": "start_scheduled_run"})
        kopf.event(body, type="Normal", reason="RunStarted", message=message)
    if decision.skipped is not None:
        message = schedule_message(decision, None)
        logger.info(message, extra={"decision": "skip_scheduled_run"})
        kopf.warn(body, reason="RunSkipped", message=message)
    if decision.delete:
        message = f"deleted finished runs beyond the history limits: {', '.join(decision.delete)}"
        kopf.event(body, type="Normal", reason="RunsPruned", message=message)
