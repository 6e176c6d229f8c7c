"""status.batch of a ModelDeployment: a pure function of the CronJob's latest Job (and its manifest)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman.api import BatchStatus


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def latest_job(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recently created Job (names break ties: a CronJob's are <name>-<minutes>)."""
    if not jobs:
        return None
    return max(jobs, key=lambda j: (j["metadata"].get("creationTimestamp", ""), j["metadata"]["name"]))


def _result(job: dict[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return "Succeeded" if condition["type"] == "Complete" else "Failed"
    return "Running"


def batch_status(
    cron_job: str, version: str, model_uri: str, job: dict[str, Any] | None, rows_scored: int | None
) -> BatchStatus:
    """What the person at the terminal wants to know about the latest run."""
    status = BatchStatus(cron_job=cron_job, version_used=version, model_uri=model_uri)
    if job is None:
        return status
    observed = job.get("status") or {}
    started, completed = _time(observed.get("startTime")), _time(observed.get("completionTime"))
    return status.model_copy(
        update={
            "last_job": job["metadata"]["name"],
            "last_run": started,
            "last_result": _result(job),
            "duration_seconds": (completed - started).total_seconds() if started and completed else None,
            "rows_scored": rows_scored,
            "failures": int(observed.get("failed") or 0),
        }
    )
