"""The operator's batch metrics (docs/metrics.md, "Operator metrics"), fed from the status.batch the
batch handler computes every 10 seconds (batch_schedule.py).

Gauges describe the latest run and are right after a restart (they are read from the Job again).
Counters count the runs this operator process saw finish: a run that had already finished when the
operator started is the baseline, not counted again (otherwise every restart would add the last run once
more, and an alert on increase() would fire again). The "batch run failed" alert is built on the gauge
`ferryman_batch_last_run_result`, which says the same thing before and after a restart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import kopf
from prometheus_client import Counter, Gauge

from ferryman.api import GROUP, VERSION, BatchStatus
from ferryman.handlers.operator_metrics import REGISTRY

RESULTS = ("Running", "Succeeded", "Failed")
FINISHED = ("Succeeded", "Failed")
LABELS = ["namespace", "model_deployment"]

RUNS = Counter(
    "ferryman_batch_runs",
    "Batch runs (Jobs of spec.batch's CronJob) this operator saw finish, by result: Succeeded or Failed.",
    [*LABELS, "result"],
    registry=REGISTRY,
)
ROWS_SCORED = Counter(
    "ferryman_batch_rows_scored",
    "Rows scored by the successful runs counted in ferryman_batch_runs_total (from their manifests, when "
    "the operator can read the output).",
    LABELS,
    registry=REGISTRY,
)
LAST_RESULT = Gauge(
    "ferryman_batch_last_run_result",
    "1 for the result of the latest batch run (Running, Succeeded, Failed), 0 for the others.",
    [*LABELS, "result"],
    registry=REGISTRY,
)
LAST_DURATION = Gauge(
    "ferryman_batch_last_run_duration_seconds",
    "Start to end of the latest finished batch run, succeeded or failed.",
    LABELS,
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "ferryman_batch_last_success_timestamp_seconds",
    "Unix time the latest successful batch run completed (seen by this operator process).",
    LABELS,
    registry=REGISTRY,
)


@dataclass
class FinishedRuns:
    """The last finished run counted per ModelDeployment, so each run is counted once."""

    counted: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def newly_finished(self, key: tuple[str, str], status: BatchStatus) -> bool:
        """True once for each run seen to finish; False for the run that had finished at the first look."""
        finished = status.last_job if status.last_result in FINISHED else None
        if key not in self.counted:
            self.counted[key] = finished
            return False
        if finished is None or finished == self.counted[key]:
            return False
        self.counted[key] = finished
        return True


def completed_at(status: BatchStatus) -> float | None:
    """Unix time the latest run succeeded, if it did."""
    if status.last_result != "Succeeded" or status.last_run is None or status.duration_seconds is None:
        return None
    return status.last_run.timestamp() + status.duration_seconds


_finished = FinishedRuns()


def publish(namespace: str, name: str, status: BatchStatus) -> None:
    """Set this ModelDeployment's batch series from its status.batch."""
    for result in RESULTS:
        LAST_RESULT.labels(namespace, name, result).set(int(status.last_result == result))
    for result in FINISHED:  # counters exist at 0 from the start, so rate() and increase() see the first run
        RUNS.labels(namespace, name, result)
    ROWS_SCORED.labels(namespace, name)
    if status.last_result in FINISHED and status.duration_seconds is not None:
        LAST_DURATION.labels(namespace, name).set(status.duration_seconds)
    success = completed_at(status)
    if success is not None:
        LAST_SUCCESS.labels(namespace, name).set(success)
    if _finished.newly_finished((namespace, name), status) and status.last_result is not None:
        RUNS.labels(namespace, name, status.last_result).inc()
        if status.last_result == "Succeeded":
            ROWS_SCORED.labels(namespace, name).inc(status.rows_scored or 0)


def forget(namespace: str, name: str) -> None:
    """spec.batch removed or the ModelDeployment deleted: its batch series go."""
    _finished.counted.pop((namespace, name), None)
    for metric, extra in ((LAST_RESULT, RESULTS), (RUNS, FINISHED)):
        for result in extra:
            with contextlib.suppress(KeyError):
                metric.remove(namespace, name, result)
    for plain in (ROWS_SCORED, LAST_DURATION, LAST_SUCCESS):
        with contextlib.suppress(KeyError):
            plain.remove(namespace, name)


@kopf.on.event(GROUP, VERSION, "modeldeployments")
async def forget_deleted_batch(type: str, namespace: str | None, name: str, **_: Any) -> None:
    """A deleted ModelDeployment leaves no batch series behind (async: it only touches memory)."""
    if type == "DELETED":
        forget(namespace or "", name)
