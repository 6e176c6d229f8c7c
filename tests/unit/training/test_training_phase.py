"""The TrainingJob's phases: from its Job's status, then from the run MLflow holds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ferryman.api import training_contract as contract
from ferryman.builders.training_phase import (
    JobOutcome,
    RunFacts,
    completed_after,
    explain_failed_run,
    job_failed_message,
    judge_approval,
    judge_run,
    judgement_status,
    phase_after_job,
    start_status,
    version_not_from_run,
)
from tests.unit.training.cases import training_job

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GOOD = {"data_check.rows": 500.0, "auc": 0.93, "champion.auc": 0.90}


def job(active: int = 0, **condition: str) -> dict[str, Any]:
    status: dict[str, Any] = {"active": active}
    if condition:
        status["conditions"] = [{"status": "True", **condition}]
    return {"status": status}


def run(metrics: dict[str, float], version: str | None = "4") -> RunFacts:
    tags = {contract.RUN_TAG_MODEL_VERSION: version} if version else {}
    return RunFacts(run_id="r1", metrics=metrics, tags=tags)


@pytest.mark.parametrize(
    ("phase", "observed", "expected"),
    [
        (None, job(), None),
        (None, job(active=1), "Running"),
        ("Pending", job(active=1), "Running"),
        ("Running", job(active=1), None),
        ("Running", job(type="Complete"), "Validating"),
        ("Pending", job(type="Complete"), "Validating"),
        ("Running", job(type="Failed", reason="BackoffLimitExceeded"), "Failed"),
        ("Validating", job(type="Complete"), None),
        ("Succeeded", job(type="Failed"), None),
        ("AwaitingApproval", job(active=1), None),
    ],
)
def test_the_jobs_status_moves_the_phase_forward_only(
    phase: str | None, observed: dict[str, Any], expected: str | None
) -> None:
    assert phase_after_job(phase, JobOutcome.of(observed)) == expected


@pytest.mark.parametrize(
    ("phase", "last_seen", "expected"),
    [
        ("Running", job(active=1), "Failed"),
        ("Pending", job(), "Failed"),
        # Its end was seen in its last state: the run is judged as if the Job were still there.
        ("Running", job(type="Complete"), "Validating"),
        ("Validating", job(type="Complete"), None),
        ("AwaitingApproval", job(), None),
        ("Succeeded", job(type="Complete"), None),
    ],
)
def test_a_job_deleted_before_its_end_stops_the_run_and_after_it_changes_nothing(
    phase: str, last_seen: dict[str, Any], expected: str | None
) -> None:
    assert phase_after_job(phase, JobOutcome.of(last_seen, deleted=True)) == expected


def completed_event(
    job_name: str = "fraud-train", at: str = "2026-11-26T12:05:00Z", **fields: Any
) -> dict[str, Any]:
    """A Completed Event as the job controller records it (core v1: firstTimestamp and lastTimestamp)."""
    event = {
        "reason": "Completed",
        "involvedObject": {"kind": "Job", "name": job_name},
        "firstTimestamp": at,
        "lastTimestamp": at,
    }
    return {**event, **fields}


def test_a_job_gone_while_nobody_watched_completed_if_its_completed_event_is_from_this_run() -> None:
    started = "2026-11-26T12:00:00Z"
    assert completed_after([completed_event()], "fraud-train", started)
    assert completed_after([completed_event(at=started)], "fraud-train", started), "within the second"
    # The events.k8s.io form: eventTime (MicroTime) instead of the deprecated timestamps.
    micro = completed_event(lastTimestamp=None, firstTimestamp=None, eventTime="2026-11-26T12:05:00.123456Z")
    assert completed_after([micro], "fraud-train", started)


@pytest.mark.parametrize(
    ("events", "started"),
    [
        ([], "2026-11-26T12:00:00Z"),
        # A Job of the same name of an earlier TrainingJob (deleted and created again) completed before.
        ([completed_event(at="2026-11-26T11:59:59Z")], "2026-11-26T12:00:00Z"),
        # Without a start time nothing tells this run's Job from an earlier one.
        ([completed_event()], None),
        ([completed_event(job_name="other-train")], "2026-11-26T12:00:00Z"),
        ([completed_event(reason="SuccessfulCreate")], "2026-11-26T12:00:00Z"),
        (
            [completed_event(involvedObject={"kind": "CronJob", "name": "fraud-train"})],
            "2026-11-26T12:00:00Z",
        ),
        ([completed_event(lastTimestamp=None, firstTimestamp=None)], "2026-11-26T12:00:00Z"),
    ],
)
def test_no_completed_event_of_this_run_means_the_job_was_stopped(
    events: list[dict[str, Any]], started: str | None
) -> None:
    assert not completed_after(events, "fraud-train", started)


def test_the_start_is_recorded_once_even_after_the_jobs_progress_was_written_first() -> None:
    fresh = start_status({}, "weekly-train", NOW, 1)
    assert fresh["phase"] == "Pending" and fresh["jobName"] == "weekly-train"
    assert fresh["startedAt"] == "2026-11-26T12:00:00Z" and fresh["observedGeneration"] == 1
    # The Job's first event won the race: the phase stays, the start fields still come.
    raced = start_status({"phase": "Running", "message": "running"}, "weekly-train", NOW, 1)
    assert raced == {"jobName": "weekly-train", "startedAt": "2026-11-26T12:00:00Z", "observedGeneration": 1}
    assert start_status({**fresh, "phase": "Running"}, "weekly-train", NOW, 1) == {}


def test_a_failed_job_says_which_limit_ended_it() -> None:
    backoff = JobOutcome.of(job(type="Failed", reason="BackoffLimitExceeded"))
    assert job_failed_message("t-train", backoff, 1) == (
        "training Job t-train failed 2 times (spec.backoffLimit 1); "
        "see `kubectl logs job/t-train` for the trainer's output"
    )
    deadline = JobOutcome.of(job(type="Failed", reason="DeadlineExceeded"))
    assert "spec.activeDeadlineSeconds" in job_failed_message("t-train", deadline, 1)


def test_passing_gates_move_the_alias_to_the_version() -> None:
    judgement = judge_run(training_job(), run(GOOD), NOW)
    assert judgement.phase == "Succeeded"
    assert judgement.aliases == ("production",)
    assert judgement.model_version == "4"
    assert judgement.version_tags == {contract.VERSION_TAG_TRAINING_JOB: "risk/fraud-weekly"}
    assert "alias production moved" in judgement.message


def test_a_run_without_a_champion_value_passes_only_where_there_is_no_other_champion() -> None:
    """Beside version 3 under the alias it is rejected; when the alias already names the run's own
    version (the operator restarted after moving it), there is no other champion and it passes."""
    skipped = {"data_check.rows": 500.0, "auc": 0.93}
    beside = judge_run(training_job(), replace(run(skipped), champion_version="3"), NOW)
    assert beside.phase == "Rejected" and "the promote alias names version 3" in beside.message
    itself = judge_run(training_job(), replace(run(skipped), champion_version="4"), NOW)
    assert itself.phase == "Succeeded"


def test_a_staging_alias_moves_before_the_main_one() -> None:
    tj = training_job(promote={"alias": "production", "stagingAlias": "staging"})
    assert judge_run(tj, run(GOOD), NOW).aliases == ("staging", "production")


def test_manual_approval_waits_after_moving_only_the_staging_alias() -> None:
    tj = training_job(promote={"alias": "production", "stagingAlias": "staging", "approval": "manual"})
    judgement = judge_run(tj, run(GOOD), NOW)
    assert judgement.phase == "AwaitingApproval"
    assert judgement.aliases == ("staging",)
    assert "ferryman approve tj fraud-weekly -n risk" in judgement.message


def test_a_worse_model_is_rejected_with_the_numbers_in_the_version_tag() -> None:
    judgement = judge_run(training_job(), run({**GOOD, "auc": 0.85}), NOW)
    assert judgement.phase == "Rejected" and judgement.aliases == ()
    record = json.loads(judgement.version_tags[contract.VERSION_TAG_REJECTED])
    assert record["trainingJob"] == "risk/fraud-weekly"
    assert record["at"] == "2026-11-26T12:00:00Z"
    assert record["reason"] == (
        "1 of 3 gates failed: champion:auc: "
        "auc 0.85 does not beat champion 0.9 (needs >= 0.91, minDelta 0.01)"
    )
    assert [g["passed"] for g in record["gates"]] == [True, True, False]
    status = judgement_status(judgement, {}, NOW)
    assert status["phase"] == "Rejected" and status["modelVersion"] == "4" and status["runId"] == "r1"
    assert status["metrics"]["auc"] == 0.85
    assert status["gates"][2]["value"] == 0.85
    assert "does not beat champion 0.9" in status["message"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Complete": "False", "Failed": "False", "Rejected": "True",
    }  # fmt: skip
    assert status["completedAt"] == "2026-11-26T12:00:00Z"


def test_a_run_without_a_model_version_fails_saying_so() -> None:
    judgement = judge_run(training_job(), run(GOOD, version=None), NOW)
    assert judgement.phase == "Failed" and judgement.reason == "NoModelVersion"
    assert contract.RUN_TAG_MODEL_VERSION in judgement.message


def test_without_promote_the_version_is_only_registered() -> None:
    tj = training_job(promote=None, validation={"metrics": [{"name": "auc", "min": 0.5}]})
    judgement = judge_run(tj, run(GOOD), NOW)
    assert judgement.phase == "Succeeded" and judgement.aliases == ()


def test_approval_moves_the_alias_and_rejection_tags_the_version() -> None:
    tj = training_job(promote={"alias": "production", "approval": "manual"})
    waiting = {
        "phase": "AwaitingApproval",
        "modelVersion": "4",
        "gates": [{"name": "metric:auc", "passed": True}],
    }
    approved = judge_approval(tj, "approve", waiting, NOW)
    assert (approved.phase, approved.aliases, approved.model_version) == ("Succeeded", ("production",), "4")
    rejected = judge_approval(tj, "reject", waiting, NOW)
    assert rejected.phase == "Rejected" and rejected.aliases == ()
    record = json.loads(rejected.version_tags[contract.VERSION_TAG_REJECTED])
    assert record["reason"] == "rejected by hand (ferryman.dev/action: reject)"


def test_a_version_the_registry_lacks_or_another_run_produced_fails_the_training_job() -> None:
    tj = training_job()
    assert version_not_from_run(tj, "r1", "4", "r1") is None
    missing = version_not_from_run(tj, "r1", "4", None, "HTTP 404: RESOURCE_DOES_NOT_EXIST")
    assert missing is not None and missing.phase == "Failed" and missing.reason == "NoModelVersion"
    assert "which the registry does not have (HTTP 404: RESOURCE_DOES_NOT_EXIST)" in missing.message
    foreign = version_not_from_run(tj, "r1", "4", "r0")
    assert foreign is not None and foreign.phase == "Failed"
    assert "was produced by run r0, not by this TrainingJob's run r1" in foreign.message


def test_a_job_that_stopped_on_its_data_is_explained_with_the_operators_numbers() -> None:
    tj = training_job()  # data check: rows rowCount min 100
    too_few = RunFacts(run_id="r9", metrics={"data_check.rows": 12.0}, tags={})
    found = explain_failed_run(tj, too_few)
    assert found is not None
    assert found.message.startswith(
        "training stopped before it began, on its data (run r9): data:rows: 12 not >= 100"
    )
    assert [gate.passed for gate in found.gates] == [False]


def test_the_trainers_own_report_explains_a_stop_the_spec_checks_do_not_show() -> None:
    tags = {contract.RUN_TAG_DATA_CHECKS_FAILED: "data checks failed: expect_column_mean.age = 3"}
    found = explain_failed_run(training_job(), RunFacts("r9", {"data_check.rows": 500.0}, tags))
    assert (
        found is not None
        and "the trainer reported data checks failed: expect_column_mean.age" in found.message
    )


def test_a_crash_that_was_not_about_the_data_is_not_blamed_on_it() -> None:
    assert explain_failed_run(training_job(), None) is None
    assert explain_failed_run(training_job(), RunFacts("r9", {"data_check.rows": 500.0}, {})) is None


def test_a_champion_the_trainer_could_not_evaluate_is_named_with_the_way_out() -> None:
    error = "champion fraud version 3 (alias production) could not be evaluated: boom"
    tags = {contract.RUN_TAG_CHAMPION_ERROR: error}
    found = explain_failed_run(training_job(), RunFacts("r9", {"data_check.rows": 500.0}, tags))
    assert found is not None and found.reason == "ChampionUnavailable" and found.gates == []
    assert found.message == (
        "champion fraud version 3 (alias production) could not be evaluated: boom (run r9); the challenger "
        "cannot be judged against it: move production to a version that loads, or remove "
        "validation.mustBeatChampion"
    )


def test_metrics_that_are_not_finite_stay_out_of_the_status_and_the_gates_name_them() -> None:
    """JSON has no NaN: the status patch carrying "auc": NaN was refused, so the outcome was never written."""
    judgement = judge_run(training_job(), run({**GOOD, "auc": float("nan"), "loss": float("inf")}), NOW)
    status = judgement_status(judgement, {}, NOW)
    json.dumps(status, allow_nan=False)  # what a strict JSON parser (the API server) accepts
    assert (
        status["phase"] == "Rejected" and "auc" not in status["metrics"] and "loss" not in status["metrics"]
    )
    assert "metric auc is nan" in status["message"]
