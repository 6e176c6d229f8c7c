"""status.batch of a ModelDeployment: a pure function of the CronJob's latest Job (and its manifest)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman.api import BatchStatus
from ferryman.api.vocabulary import parse_timestamp


def _time(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value else None


def latest_job(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recently created Job (names break ties: a CronJob's are <name>-<minutes>)."""
    if not jobs:
        return None
    return max(jobs, key=lambda j: (j["metadata"].get("creationTimestamp", ""), j["metadata"]["name"]))


def _finished(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's Complete or Failed condition, once it has one."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return dict(condition)
    return None


def _result(finished: dict[str, Any] | None) -> str:
    if finished is None:
        return "Running"
    return "Succeeded" if finished["type"] == "Complete" else "Failed"


def _ended(observed: dict[str, Any], finished: dict[str, Any] | None) -> datetime | None:
    # Kubernetes sets completionTime only on success; a failed run ended when its Failed condition came.
    ended = _time(observed.get("completionTime"))
    if ended is None and finished is not None and finished["type"] == "Failed":
        ended = _time(finished.get("lastTransitionTime"))
    return ended


def batch_status(
    cron_job: str, version: str, model_uri: str, job: dict[str, Any] | None, rows_scored: int | None
) -> BatchStatus:
    """What the person at the terminal wants to know about the latest run."""
    status = BatchStatus(cron_job=cron_job, version_used=version, model_uri=model_uri)
    if job is None:
        return status
    observed = job.get("status") or {}
    finished = _finished(job)
    started, ended = _time(observed.get("startTime")), _ended(observed, finished)
    return status.model_copy(
        update={
            "last_job": job["metadata"]["name"],
            "last_run": started,
            "last_result": _result(finished),
            "duration_seconds": (ended - started).total_seconds() if started and ended else None,
            "rows_scored": rows_scored,
            "failures": int(observed.get("failed") or 0),
        }
    )
