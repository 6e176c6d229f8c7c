"""Recurring TrainingJobs: schedule arithmetic, no overlap, missed times, history limits, the child run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ferryman.api.base import OBJECT_NAME_PATTERN
from ferryman.builders.training_schedule import (
    ANNOTATION_SCHEDULED_AT,
    LABEL_SCHEDULED_BY,
    ScheduledRun,
    build_scheduled_run,
    decide_schedule,
    latest_due,
    next_run_after,
    run_name,
    scheduled_runs,
)
from tests.unit.training.cases import UID, training_job

pytestmark = pytest.mark.unit


def at(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def run(name: str, scheduled_at: datetime, phase: str | None) -> ScheduledRun:
    return ScheduledRun(name, scheduled_at, phase)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/15 * * * *", at(10, 7, 30), at(10, 15)),
        ("*/15 * * * *", at(10, 15), at(10, 30)),  # strictly after
        ("@hourly", at(10, 0, 1), at(11)),
        ("@daily", at(23, 59), at(0, day=27)),
        ("0 3 * * 1", at(12), datetime(2026, 11, 30, 3, tzinfo=UTC)),  # 2026-11-26 is a Thursday
        ("@monthly", at(12), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_next_run_is_the_first_scheduled_minute_after(
    schedule: str, after: datetime, expected: datetime
) -> None:
    assert next_run_after(schedule, after) == expected


def test_latest_due_is_the_newest_time_since_the_last_one_handled() -> None:
    assert latest_due("*/10 * * * *", since=at(10), now=at(10, 9, 59)) is None
    assert latest_due("*/10 * * * *", since=at(10), now=at(10, 10)) == at(10, 10)
    # Three times missed while the operator was down: one run, for the latest.
    assert latest_due("*/10 * * * *", since=at(10), now=at(10, 35)) == at(10, 30)
    assert latest_due("@daily", since=at(0, 0, 1), now=at(23, 59)) is None


def test_a_due_time_starts_a_run_when_none_is_going() -> None:
    finished = [run("w-1", at(9), "Succeeded")]
    decision = decide_schedule("@hourly", at(9), at(10, 0, 4), finished, keep_succeeded=3, keep_failed=1)
    assert decision.start == at(10) and decision.skipped is None and decision.active is None
    assert decision.handled == at(10) and decision.next_run == at(11) and decision.delete == ()


@pytest.mark.parametrize("phase", [None, "Pending", "Running", "Validating", "AwaitingApproval"])
def test_a_due_time_is_skipped_not_queued_while_a_run_has_not_finished(phase: str | None) -> None:
    going = [run("w-1", at(9), phase)]
    decision = decide_schedule("@hourly", at(9), at(10, 0, 4), going, keep_succeeded=3, keep_failed=1)
    assert decision.start is None and decision.skipped == at(10) and decision.active == "w-1"
    assert decision.handled == at(10), "handled: the skipped time is not started late when w-1 finishes"
    later = decide_schedule("@hourly", decision.handled, at(10, 30), [run("w-1", at(9), "Succeeded")], 3, 1)
    assert later.start is None and later.skipped is None


def test_nothing_due_keeps_the_last_handled_time_and_reports_the_active_run() -> None:
    decision = decide_schedule("@hourly", at(10), at(10, 20), [run("w-2", at(10), "Running")], 3, 1)
    assert decision.start is None and decision.skipped is None
    assert decision.active == "w-2" and decision.handled == at(10) and decision.next_run == at(11)


def test_history_limits_delete_the_oldest_finished_runs_of_each_kind() -> None:
    runs = [
        run("s1", at(1), "Succeeded"),
        run("f1", at(2), "Failed"),
        run("s2", at(3), "Succeeded"),
        run("r1", at(4), "Rejected"),
        run("s3", at(5), "Succeeded"),
        run("a1", at(6), "AwaitingApproval"),
    ]
    decision = decide_schedule("@yearly", at(6), at(7), runs, keep_succeeded=2, keep_failed=1)
    assert decision.delete == ("s1", "f1"), "Failed and Rejected share one limit; a run not finished stays"
    assert decide_schedule("@yearly", at(6), at(7), runs, 0, 0).delete == ("s1", "f1", "s2", "r1", "s3")


def test_a_parent_name_near_the_limit_still_gives_valid_distinct_run_names() -> None:
    """A 250-character TrainingJob: NAME-<minutes> was 259 characters, a run the API server refused at
    every scheduled time. Two such parents that differ only at the end keep distinct runs."""
    first, second = "t" * 249 + "-one", "t" * 249 + "-two"
    names = {run_name(first, at(3)), run_name(second, at(3)), run_name(first, at(4))}
    assert len(names) == 3
    assert all(len(name) <= 253 and re.fullmatch(OBJECT_NAME_PATTERN, name) for name in names), names
    assert run_name(first, at(3)) == run_name(first, at(3)), "a repeated tick finds the run it made"


def test_the_child_run_is_the_spec_without_the_schedule_controlled_by_the_parent() -> None:
    parent = training_job("weekly", schedule="0 3 * * 1", successfulRunsHistoryLimit=5)
    child = build_scheduled_run(parent, at(3))
    assert child["metadata"]["name"] == run_name("weekly", at(3)) == f"weekly-{int(at(3).timestamp()) // 60}"
    assert child["metadata"]["labels"] == {LABEL_SCHEDULED_BY: "weekly"}
    assert child["metadata"]["annotations"] == {ANNOTATION_SCHEDULED_AT: "2026-11-26T03:00:00Z"}
    owner = child["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainingJob", UID, True)
    spec = child["spec"]
    assert "schedule" not in spec and "successfulRunsHistoryLimit" not in spec
    assert spec["mlflow"]["registeredModel"] == "fraud" and spec["promote"] == {
        "alias": "production",
        "approval": "auto",
    }
    reread = scheduled_runs(UID, [{**child, "status": {"phase": "Running"}}])
    assert reread == [ScheduledRun(child["metadata"]["name"], at(3), "Running")]


def test_runs_controlled_by_another_owner_are_not_this_schedules() -> None:
    child = build_scheduled_run(training_job("weekly", schedule="@daily"), at(3))
    assert scheduled_runs("another-uid", [child]) == []
    child["metadata"]["ownerReferences"] = []
    assert scheduled_runs(UID, [child]) == [], "a copied label proves nothing"


@pytest.mark.parametrize("schedule", ["61 * * * *", "0 25 * * *", "0 0 31 2 *", "* * * * 8"])
def test_a_schedule_cron_cannot_read_is_refused_naming_the_field(schedule: str) -> None:
    with pytest.raises(ValidationError, match=r"spec.schedule .* is not a cron schedule"):
        training_job(schedule=schedule)


def test_every_minute_schedule_runs_once_a_minute() -> None:
    start = at(10, 0, 30)
    times = []
    since, now = start, start
    for _ in range(5):  # 10:00:50 ... 10:02:10
        now += timedelta(seconds=20)
        decision = decide_schedule("* * * * *", since, now, [], 3, 1)
        if decision.start is not None:
            times.append(decision.start)
        since = decision.handled
    assert times == [at(10, 1), at(10, 2)] and since == at(10, 2)
