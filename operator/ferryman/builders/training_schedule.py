"""Recurring TrainingJobs as pure decisions: like a CronJob with concurrencyPolicy Forbid.

A TrainingJob with spec.schedule runs nothing itself. At each scheduled time it creates a child TrainingJob
(the same spec without the schedule, controlled by it), unless a child has not finished yet: then that time
is skipped, never queued, so two trainings of one model never overlap. Times missed while the operator was
down collapse into one run, for the latest of them. Finished children beyond the history limits go,
oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronsim import CronSim

from ferryman.api import TrainingJob
from ferryman.api.base import MAX_NAME
from ferryman.api.schedule import cron_expression
from ferryman.api.vocabulary import format_timestamp
from ferryman.builders.naming import bounded_name, label_value
from ferryman.builders.ownership import controlling_owner, owner_reference

LABEL_SCHEDULED_BY = "ferryman.dev/scheduled-by"
ANNOTATION_SCHEDULED_AT = "ferryman.dev/scheduled-at"
SUCCEEDED = frozenset({"Succeeded"})
UNSUCCESSFUL = frozenset({"Failed", "Rejected"})
SCHEDULE_ONLY_FIELDS = ("schedule", "successfulRunsHistoryLimit", "failedRunsHistoryLimit")


def next_run_after(schedule: str, moment: datetime) -> datetime:
    """The first scheduled time strictly after `moment` (whole minutes, UTC)."""
    start = moment.astimezone(UTC).replace(second=0, microsecond=0)
    result: datetime = next(CronSim(cron_expression(schedule), start))
    return result


def latest_due(schedule: str, since: datetime, now: datetime) -> datetime | None:
    """The latest scheduled time in (since, now], or None when none fell due since `since`."""
    # cronsim's reverse walk is strictly before its start: start a second later so that `now` itself counts.
    start = now.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    previous: datetime = next(CronSim(cron_expression(schedule), start, reverse=True))
    return previous if previous > since else None


@dataclass(frozen=True)
class ScheduledRun:
    """A child TrainingJob of a schedule: name, the time it was scheduled for, its phase."""

    name: str
    scheduled_at: datetime
    phase: str | None

    @property
    def finished(self) -> bool:
        return self.phase in SUCCEEDED | UNSUCCESSFUL


@dataclass(frozen=True)
class ScheduleDecision:
    """What one tick of the schedule does."""

    start: datetime | None  # create a child run for this scheduled time
    skipped: datetime | None  # this scheduled time fell due while `active` had not finished
    active: str | None  # the child not finished yet (none, or the one just started)
    delete: tuple[str, ...]  # finished children beyond the history limits
    handled: datetime  # status.lastScheduleTime after the tick
    next_run: datetime


def decide_schedule(
    schedule: str,
    since: datetime,
    now: datetime,
    runs: Sequence[ScheduledRun],
    keep_succeeded: int,
    keep_failed: int,
) -> ScheduleDecision:
    """since: the last scheduled time handled, or the TrainingJob's creation for the first tick."""
    due = latest_due(schedule, since, now)
    running = sorted((run for run in runs if not run.finished), key=lambda run: run.scheduled_at)
    active = running[-1].name if running else None
    start = due if due is not None and active is None else None
    skipped = due if due is not None and active is not None else None
    return ScheduleDecision(
        start=start,
        skipped=skipped,
        active=active if start is None else None,
        delete=beyond_history(runs, keep_succeeded, keep_failed),
        handled=due or since,
        next_run=next_run_after(schedule, now),
    )


def beyond_history(runs: Sequence[ScheduledRun], keep_succeeded: int, keep_failed: int) -> tuple[str, ...]:
    """Finished runs past their limit, oldest first; runs not finished are never deleted."""
    doomed: list[ScheduledRun] = []
    for phases, keep in ((SUCCEEDED, keep_succeeded), (UNSUCCESSFUL, keep_failed)):
        finished = sorted((run for run in runs if run.phase in phases), key=lambda run: run.scheduled_at)
        doomed += finished[: max(0, len(finished) - keep)]
    return tuple(run.name for run in sorted(doomed, key=lambda run: run.scheduled_at))


def run_name(parent: str, scheduled_at: datetime) -> str:
    """NAME-<minutes since 1970>, as a CronJob names its Jobs: unique per scheduled time, so that a tick
    repeated after a lost status write finds the run it already made instead of making a second one.
    A parent name too long for the suffix is cut, with a hash of it (naming.bounded_name)."""
    return bounded_name(parent, f"-{int(scheduled_at.timestamp()) // 60}", MAX_NAME)


def build_scheduled_run(parent: TrainingJob, scheduled_at: datetime) -> dict[str, Any]:
    """The child TrainingJob for one scheduled time: the parent's spec without the schedule."""
    spec = parent.model_dump(by_alias=True, exclude_none=True, mode="json")["spec"]
    for key in SCHEDULE_ONLY_FIELDS:
        spec.pop(key, None)
    # Only our label: copying the parent's would copy a GitOps tool's tracking label, and Argo CD would then
    # prune the runs as strays of the Application.
    labels = {LABEL_SCHEDULED_BY: label_value(parent.metadata.name)}
    return {
        "apiVersion": parent.api_version,
        "kind": "TrainingJob",
        "metadata": {
            "name": run_name(parent.metadata.name, scheduled_at),
            "namespace": parent.metadata.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_SCHEDULED_AT: format_timestamp(scheduled_at)},
            "ownerReferences": [owner_reference(parent)],
        },
        "spec": spec,
    }


def scheduled_runs(parent_uid: str, children: Sequence[dict[str, Any]]) -> list[ScheduledRun]:
    """The children this parent controls (a label can be copied; the controller reference cannot)."""
    runs = []
    for child in children:
        owner = controlling_owner(child, TrainingJob.KIND)
        metadata = child.get("metadata") or {}
        at = (metadata.get("annotations") or {}).get(ANNOTATION_SCHEDULED_AT)
        if owner is None or owner[1] != parent_uid or not at:
            continue
        scheduled_at = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        runs.append(ScheduledRun(metadata["name"], scheduled_at, (child.get("status") or {}).get("phase")))
    return runs


def schedule_message(decision: ScheduleDecision, started: str | None) -> str:
    """One line for status.message: what this tick did and when the next run is."""
    next_text = f"next run at {format_timestamp(decision.next_run)}"
    if started is not None:
        return f"started run {started}; {next_text}"
    if decision.skipped is not None:
        return (
            f"skipped the run due at {format_timestamp(decision.skipped)}: run {decision.active} has not "
            f"finished (runs never overlap); {next_text}"
        )
    if decision.active is not None:
        return f"run {decision.active} in progress; {next_text}"
    return next_text


def scheduled_status(tj: TrainingJob, now: datetime) -> dict[str, Any]:
    """The status a TrainingJob with spec.schedule starts with: no Job of its own, the first run's time."""
    assert tj.spec.schedule is not None
    upcoming = format_timestamp(next_run_after(tj.spec.schedule, now))
    return {
        "phase": "Scheduled",
        "message": f"runs on schedule {tj.spec.schedule!r} (UTC); next run at {upcoming}",
        "nextScheduleTime": upcoming,
        "observedGeneration": tj.metadata.generation,
    }
