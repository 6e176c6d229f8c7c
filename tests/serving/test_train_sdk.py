"""The trainer SDK against a real MLflow server: the example trainer runs as a real subprocess with only
the contract environment, and what it leaves in MLflow is what the operator judges and serving loads.

No Kubernetes: the operator's side (the TrainingJob handler) is tested in the cluster and e2e tiers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score

from ferryman.api import training_contract as contract
from ferryman.train.champion import ChampionUnavailable, evaluate_champion
from ferryman.train.context import ContractError
from ferryman.train.data_checks import DataCheckFailed
from ferryman.train.run import training_run
from ferryman.train.serving_check import serve_rows
from ferryman_testing import REPO_ROOT
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.registry import Registry
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

MODEL = "breast-cancer"
EXPERIMENT = "train-sdk"
TRAINER = REPO_ROOT / "examples" / "train_breast_cancer.py"
CHECKS = '[{"name": "rows", "check": "rowCount", "min": 100}, {"name": "radius-nulls", "check": "nullFraction", "column": "mean radius", "max": 0.0}]'  # noqa: E501


@dataclass(frozen=True)
class Trained:
    exit_code: int
    stderr: str
    run: Any  # mlflow.entities.Run


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow-train")) as server:
        yield Registry(server.url)


def train(registry: Registry, uid: str, **extra_env: str) -> Trained:
    """The example trainer as the operator would start it: a process with the contract environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRYMAN_", "MLFLOW_"))}
    env.update({
        contract.ENV_TRACKING_URI: registry.url,
        contract.ENV_EXPERIMENT: EXPERIMENT,
        contract.ENV_REGISTERED_MODEL: MODEL,
        contract.ENV_TRAINING_JOB: f"team-a/{uid}",
        contract.ENV_TRAINING_JOB_UID: uid,
        contract.ENV_DATA_VERSION: "sklearn-1",
        contract.ENV_PARAMS: '{"C": "0.5", "seed": "11"}',
        contract.ENV_DATA_CHECKS: CHECKS,
        contract.ENV_CHAMPION_ALIAS: "production",
        "FERRYMAN_IMAGE": "example.invalid/trainer:1",
        **extra_env,
    })  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(TRAINER)], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110
    )
    return Trained(done.returncode, done.stderr, run_of(registry, uid))


def run_of(registry: Registry, uid: str) -> Any:
    """The run of a training job, found the way the operator finds it: by the UID tag."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        experiment = registry.client.get_experiment_by_name(EXPERIMENT)
        runs = registry.client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`{contract.RUN_TAG_TRAINING_JOB_UID}` = '{uid}'"
        )
    assert len(runs) == 1, f"one run per training job uid {uid}, found {len(runs)}"
    return runs[0]


def versions(registry: Registry) -> list[str]:
    found = registry.client.search_model_versions(f"name='{MODEL}'")
    return sorted(str(v.version) for v in found)


@pytest.fixture(scope="module")
def first(mlflow: Registry) -> Trained:
    trained = train(mlflow, "uid-first")
    assert trained.exit_code == 0, trained.stderr
    return trained


def test_run_carries_lineage_params_and_environment(first: Trained, mlflow: Registry) -> None:
    tags, params = first.run.data.tags, first.run.data.params
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert tags[contract.RUN_TAG_TRAINING_JOB] == "team-a/uid-first"
    assert tags[contract.RUN_TAG_GIT_COMMIT] == head.stdout.strip()
    assert tags[contract.RUN_TAG_IMAGE] == "example.invalid/trainer:1"
    assert tags[contract.RUN_TAG_DATA_VERSION] == "sklearn-1"
    assert len(tags[contract.RUN_TAG_DATA_HASH]) == 64
    assert params["C"] == "0.5" and params["seed"] == "11" and params["max_iter"] == "500"
    requirements = mlflow.client.download_artifacts(first.run.info.run_id, "environment/requirements.txt")
    assert "scikit-learn==" in Path(requirements).read_text()


def test_run_logs_data_checks_metric_and_serving_check_but_no_champion_yet(first: Trained) -> None:
    """The first model has nothing to beat: no champion metric, no champion tag."""
    metrics = first.run.data.metrics
    assert metrics["data_check.rows"] == 569.0 and metrics["data_check.radius-nulls"] == 0.0
    assert 0.9 < metrics["accuracy"] <= 1.0
    assert metrics[contract.SERVING_VALID] == 1.0
    assert 0.0 < metrics[contract.SERVING_P99_MS] < 1000.0
    assert not [name for name in metrics if name.startswith(contract.CHAMPION_METRIC_PREFIX)]
    assert contract.RUN_TAG_CHAMPION_VERSION not in first.run.data.tags


def test_registered_version_is_tagged_and_served_by_the_serving_image(
    first: Trained, mlflow: Registry, logs_dir: Path, tmp_path: Path
) -> None:
    version = first.run.data.tags[contract.RUN_TAG_MODEL_VERSION]
    assert version == "1"
    assert mlflow.tags(MODEL, version)[contract.VERSION_TAG_TRAINING_JOB] == "team-a/uid-first"
    card = mlflow.client.download_artifacts(first.run.info.run_id, "model/model_card.md")
    assert "## Intended use" in Path(card).read_text() and first.run.info.run_id in Path(card).read_text()
    row = load_breast_cancer().data[0].tolist()
    with ServingProcess(
        logs_dir,
        model_uri=f"models:/{MODEL}/{version}",
        model_name="bc",
        mlflow_tracking_uri=mlflow.url,
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        answer = httpx.post(
            f"{server.url}/v2/models/bc/infer",
            json={"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30], "data": row}]},
        )
        assert answer.status_code == 200, answer.text
        assert {o["name"] for o in answer.json()["outputs"]} == {"label", "probabilities"}
        assert "ferryman_feature_value_bucket" in httpx.get(f"{server.url}/metrics").text, "profile.json"


def test_second_run_evaluates_the_champion_the_alias_names(first: Trained, mlflow: Registry) -> None:
    mlflow.move_alias(MODEL, "production", first.run.data.tags[contract.RUN_TAG_MODEL_VERSION])
    second = train(mlflow, "uid-second", **{contract.ENV_PARAMS: '{"C": "0.001", "seed": "11"}'})
    assert second.exit_code == 0, second.stderr
    metrics, tags = second.run.data.metrics, second.run.data.tags
    assert tags[contract.RUN_TAG_CHAMPION_VERSION] == "1"
    # Same seed, same split: the champion's accuracy here is the first run's own accuracy.
    assert metrics["champion.accuracy"] == pytest.approx(first.run.data.metrics["accuracy"])
    assert metrics["accuracy"] != metrics["champion.accuracy"]
    assert tags[contract.RUN_TAG_MODEL_VERSION] == "2"


def test_bad_data_stops_the_run_and_registers_nothing(
    first: Trained, mlflow: Registry, tmp_path: Path
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.loc[frame.index[:50], "mean radius"] = None
    data = tmp_path / "bad.csv"
    frame.to_csv(data, index=False)
    before = versions(mlflow)
    bad = train(mlflow, "uid-bad", **{contract.ENV_DATA_URI: f"file://{data}"})
    assert bad.exit_code == contract.EXIT_DATA_CHECK_FAILED
    assert "data check 'radius-nulls' (nullFraction of column 'mean radius') = 0.0878735, outside max 0" in (
        bad.stderr
    )
    assert bad.run.info.status == "FAILED"
    assert bad.run.data.metrics["data_check.radius-nulls"] == pytest.approx(50 / 569)
    assert contract.RUN_TAG_MODEL_VERSION not in bad.run.data.tags
    assert "nullFraction of column 'mean radius'" in bad.run.data.tags[contract.RUN_TAG_DATA_CHECKS_FAILED]
    assert versions(mlflow) == before


def test_serving_check_refuses_a_model_the_serving_image_cannot_load() -> None:
    with pytest.raises(RuntimeError, match=r"the serving image cannot load the candidate model: \w+"):
        serve_rows(b"not an onnx model", np.zeros((2, 30), dtype=np.float32))


def test_trainer_without_a_tracking_server_says_which_variable_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRYMAN_", "MLFLOW_"))}
    done = subprocess.run([sys.executable, str(TRAINER)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == contract.EXIT_CONTRACT_ERROR
    assert done.stderr.startswith(
        "cannot start: MLFLOW_TRACKING_URI is not set; set it to the MLflow server URL"
    )


def contract_env(registry: Registry, uid: str, **extra: str) -> dict[str, str]:
    return {
        contract.ENV_TRACKING_URI: registry.url,
        contract.ENV_EXPERIMENT: EXPERIMENT,
        contract.ENV_REGISTERED_MODEL: MODEL,
        contract.ENV_TRAINING_JOB_UID: uid,
        **extra,
    }


def test_great_expectations_suite_fails_the_run_and_logs_its_values(mlflow: Registry) -> None:
    """A failed GX expectation is logged as data_check.<expectation>.<column> and ends the run FAILED."""
    frame = load_breast_cancer(as_frame=True).frame
    suite = {"name": "s", "expectations": [
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "mean radius", "max_value": 20}},
    ]}  # fmt: skip
    with (
        pytest.raises(
            DataCheckFailed, match="expect_column_max_to_be_between on column 'mean radius' NOT met"
        ),
        training_run(env=contract_env(mlflow, "uid-gx")) as run,
    ):
        run.check_data(frame, checks=[], gx_suite=suite)
    failed = run_of(mlflow, "uid-gx")
    assert failed.info.status == "FAILED"
    assert (
        failed.data.metrics["data_check.column_max_to_be_between.mean radius"] == frame["mean radius"].max()
    )


def test_champion_metric_must_be_the_one_the_operator_names(first: Trained, mlflow: Registry) -> None:
    """FERRYMAN_CHAMPION_METRIC (the gate's metric) must be the metric the script computes.

    Before, an accuracy was logged as champion.<the gate's metric> (f1, say) and the gate compared the
    challenger's f1 with the champion's accuracy.
    """
    mlflow.move_alias(MODEL, "production", "1")
    data = load_breast_cancer()
    env = contract_env(
        mlflow,
        "uid-metric",
        **{contract.ENV_CHAMPION_ALIAS: "production", contract.ENV_CHAMPION_METRIC: "f1"},
    )
    with (
        pytest.raises(ContractError, match=r"the TrainingJob compares 'f1' .* pass metric_name='f1'"),
        training_run(env=env) as run,
    ):
        evaluate_champion(run, data.data, data.target, "accuracy", accuracy_score, output="label")
    assert not any(name.startswith("champion.") for name in run_of(mlflow, "uid-metric").data.metrics)
    env[contract.ENV_CHAMPION_METRIC] = "accuracy"
    env[contract.ENV_TRAINING_JOB_UID] = "uid-metric-same"
    with training_run(env=env) as run:
        result = evaluate_champion(run, data.data, data.target, "accuracy", accuracy_score, output="label")
    assert result is not None and (result.version, result.metric) == ("1", "accuracy")
    logged = run_of(mlflow, "uid-metric-same").data
    assert logged.metrics["champion.accuracy"] == result.value
    assert logged.tags[contract.RUN_TAG_CHAMPION_VERSION] == "1"


def test_a_champion_that_cannot_be_run_fails_the_run_and_says_which(mlflow: Registry, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    version = mlflow.register("broken-champion", broken)
    mlflow.move_alias("broken-champion", "production", version)
    env = contract_env(
        mlflow,
        "uid-broken-champion",
        **{contract.ENV_REGISTERED_MODEL: "broken-champion", contract.ENV_CHAMPION_ALIAS: "production"},
    )
    data = load_breast_cancer()
    with (
        pytest.raises(
            ChampionUnavailable, match=r"champion broken-champion version \d+ \(alias production\)"
        ),
        training_run(env=env) as run,
    ):
        evaluate_champion(run, data.data, data.target, "accuracy", accuracy_score, output="label")
    logged = run_of(mlflow, "uid-broken-champion")
    assert logged.info.status == "FAILED"
    assert logged.data.tags[contract.RUN_TAG_CHAMPION_ERROR].startswith(
        f"champion broken-champion version {version} (alias production) could not be evaluated: "
    )


def test_a_champion_scored_nan_fails_the_run_instead_of_blocking_every_challenger(
    first: Trained, mlflow: Registry
) -> None:
    """A metric of nan on the champion (a champion predicting NaN) raises ChampionUnavailable.

    Before: champion.accuracy = nan was logged, and no challenger could ever beat it (nothing compares
    with NaN), with no hint that the champion, not the challenger, was the problem.
    """
    mlflow.move_alias(MODEL, "production", "1")
    data = load_breast_cancer()
    env = contract_env(mlflow, "uid-nan-champion", **{contract.ENV_CHAMPION_ALIAS: "production"})

    def nan_metric(labels: object, predictions: object) -> float:
        return float("nan")

    with (
        pytest.raises(ChampionUnavailable, match=r"its accuracy on this holdout is nan"),
        training_run(env=env) as run,
    ):
        evaluate_champion(run, data.data, data.target, "accuracy", nan_metric, output="label")
    logged = run_of(mlflow, "uid-nan-champion")
    assert logged.info.status == "FAILED" and "champion.accuracy" not in logged.data.metrics
    assert "is nan" in logged.data.tags[contract.RUN_TAG_CHAMPION_ERROR]
