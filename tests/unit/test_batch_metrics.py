"""The operator's batch metrics follow status.batch: the latest run's result and duration, and each run
counted once, the one that had finished before the operator started not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ferryman.api import BatchStatus
from ferryman.handlers.batch_metrics import REGISTRY, FinishedRuns, completed_at, forget, publish

pytestmark = pytest.mark.unit

STARTED = datetime(2026, 1, 2, 2, 0, 1, tzinfo=UTC)


def run(job: str, result: str | None, rows: int | None = None, seconds: float | None = None) -> BatchStatus:
    return BatchStatus(
        cron_job="churn-batch", last_job=job, last_run=STARTED, last_result=result,
        duration_seconds=seconds, rows_scored=rows,
    )  # fmt: skip


def value(metric: str, name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": "risk", "model_deployment": name, **labels})


def test_each_finished_run_counts_once_and_the_one_found_finished_at_start_not_at_all() -> None:
    runs = FinishedRuns()
    key = ("risk", "churn")
    assert not runs.newly_finished(key, run("churn-batch-1", "Failed"))  # finished before the operator
    assert not runs.newly_finished(key, run("churn-batch-1", "Failed"))
    assert not runs.newly_finished(key, run("churn-batch-2", "Running"))
    assert runs.newly_finished(key, run("churn-batch-2", "Succeeded"))
    assert not runs.newly_finished(key, run("churn-batch-2", "Succeeded"))
    assert runs.newly_finished(key, run("churn-batch-3", "Failed"))


def test_success_time_is_start_plus_duration_and_only_for_a_success() -> None:
    assert completed_at(run("j", "Succeeded", seconds=90.0)) == STARTED.timestamp() + 90.0
    assert completed_at(run("j", "Failed", seconds=90.0)) is None
    assert completed_at(run("j", "Running")) is None


def test_published_series_follow_the_runs_and_go_with_forget() -> None:
    """Run 1 is the baseline; run 2 succeeds with 1,000 rows, run 3 fails: one run of each counted, the
    gauges say Failed and keep run 2's success time; forget removes every series."""
    publish("risk", "churn", run("churn-batch-1", "Succeeded", rows=5000, seconds=10.0))
    publish("risk", "churn", run("churn-batch-2", "Running"))
    assert value("ferryman_batch_last_run_result", "churn", result="Running") == 1
    assert value("ferryman_batch_last_run_duration_seconds", "churn") == 10.0
    publish("risk", "churn", run("churn-batch-2", "Succeeded", rows=1000, seconds=90.0))
    publish("risk", "churn", run("churn-batch-2", "Succeeded", rows=1000, seconds=90.0))
    publish("risk", "churn", run("churn-batch-3", "Failed", seconds=30.0))
    assert value("ferryman_batch_runs_total", "churn", result="Succeeded") == 1
    assert value("ferryman_batch_runs_total", "churn", result="Failed") == 1
    assert value("ferryman_batch_rows_scored_total", "churn") == 1000
    assert value("ferryman_batch_last_run_result", "churn", result="Failed") == 1
    assert value("ferryman_batch_last_run_result", "churn", result="Succeeded") == 0
    assert value("ferryman_batch_last_run_duration_seconds", "churn") == 30.0
    assert value("ferryman_batch_last_success_timestamp_seconds", "churn") == STARTED.timestamp() + 90.0
    forget("risk", "churn")
    assert value("ferryman_batch_runs_total", "churn", result="Succeeded") is None
    assert value("ferryman_batch_last_run_result", "churn", result="Failed") is None
    assert value("ferryman_batch_last_success_timestamp_seconds", "churn") is None
