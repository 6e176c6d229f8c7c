"""The training Job: owned by its TrainingJob, limited as the spec says, with the contract's env."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ferryman.api import training_contract as contract
from ferryman.builders.training_job import (
    build_training_job,
    controlling_training_job,
    job_name,
)
from ferryman.config import Settings
from tests.unit.training.cases import UID, training_job

pytestmark = pytest.mark.unit


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container["env"]}


def test_the_job_is_controlled_by_its_training_job() -> None:
    job = build_training_job(training_job(), Settings())
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "ferryman.dev/v1alpha1", "kind": "TrainingJob", "name": "fraud-weekly", "uid": UID,
        "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    assert controlling_training_job(job) == ("fraud-weekly", UID)
    assert job["metadata"]["name"] == "fraud-weekly-train"
    assert job["metadata"]["namespace"] == "risk"


def test_labels_say_who_made_the_job_on_it_and_its_pods() -> None:
    job = build_training_job(training_job(), Settings())
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/managed-by"] == "ferryman"
        assert labels["ferryman.dev/training-job"] == "fraud-weekly"


def test_limits_and_restart_policy_come_from_the_spec() -> None:
    job = build_training_job(training_job(), Settings())
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    rule = job["spec"]["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob", "bad data fails the same way on every retry"
    assert rule["onExitCodes"] == {"operator": "In", "values": [65, 78]}


def test_a_restart_policy_the_user_set_is_kept() -> None:
    tj = training_job()
    template = tj.spec.template.manifest()
    template["spec"]["restartPolicy"] = "OnFailure"
    job = build_training_job(training_job(template=template), Settings())
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert "podFailurePolicy" not in job["spec"], "the API server refuses one with OnFailure"


def test_no_deadline_when_the_spec_sets_none() -> None:
    job = build_training_job(training_job(activeDeadlineSeconds=None), Settings())
    assert "activeDeadlineSeconds" not in job["spec"]


def test_the_contract_env_is_injected_and_wins_over_the_users_entry() -> None:
    env = env_of(build_training_job(training_job(), Settings()))
    assert env[contract.ENV_TRACKING_URI] == "http://mlflow.example:5000"
    assert env[contract.ENV_EXPERIMENT] == "fraud"  # not the user's "x"
    assert env[contract.ENV_REGISTERED_MODEL] == "fraud"
    assert env[contract.ENV_TRAINING_JOB] == "risk/fraud-weekly"
    assert env[contract.ENV_TRAINING_JOB_UID] == UID
    assert env[contract.ENV_DATA_URI] == "s3://data/fraud.parquet"
    assert env[contract.ENV_DATA_VERSION] == "2026-11-01"
    assert json.loads(env[contract.ENV_PARAMS]) == {"trees": "50", "depth": "3"}
    assert json.loads(env[contract.ENV_DATA_CHECKS]) == [{"name": "rows", "check": "rowCount", "min": 100.0}]
    assert env[contract.ENV_CHAMPION_ALIAS] == "production"
    assert env[contract.ENV_CHAMPION_METRIC] == "auc"
    assert env["EXTRA"] == "kept"
    assert contract.ENV_TRACKING_TOKEN not in env


def test_data_checks_are_passed_in_camel_case() -> None:
    checks = [{"name": "nulls", "check": "nullFraction", "column": "amount", "max": 0.1}]
    tj = training_job(validation={"data": checks})
    env = env_of(build_training_job(tj, Settings()))
    assert json.loads(env[contract.ENV_DATA_CHECKS]) == [
        {"name": "nulls", "check": "nullFraction", "column": "amount", "max": 0.1}
    ]


def test_no_champion_env_without_a_champion_gate_and_no_data_env_without_data() -> None:
    tj = training_job(validation={}, data=None)
    env = env_of(build_training_job(tj, Settings()))
    for name in (contract.ENV_CHAMPION_ALIAS, contract.ENV_CHAMPION_METRIC, contract.ENV_DATA_URI):
        assert name not in env


def test_the_token_comes_from_the_named_secret_never_as_a_value() -> None:
    settings = Settings(training_token_secret="mlflow-auth/token")
    env = env_of(build_training_job(training_job(), settings))
    assert env[contract.ENV_TRACKING_TOKEN] == {"secretKeyRef": {"name": "mlflow-auth", "key": "token"}}


def test_a_long_name_gives_a_job_name_that_fits_a_label_value() -> None:
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert len(job_name(long_a)) <= 63
    assert job_name(long_a) != job_name(long_b)
    assert job_name(long_a).endswith("-train")
    assert job_name("short") == "short-train"
