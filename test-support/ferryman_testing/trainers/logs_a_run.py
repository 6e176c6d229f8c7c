"""A stand-in trainer that speaks the TrainingJob contract with plain MLflow calls (no ferryman.train).

It reads the environment the operator gives a training container, logs one run with the contract's
tags and metric names, registers a tiny ONNX model as a new version and tags the run with it; with
a champion alias set, it logs the champion's metric as champion.<metric>. Knobs (env of the pod):
  STANDIN_AUC         the auc it logs (default 0.9)
  STANDIN_EXIT        exit with this code before logging anything (a trainer that crashes)
  STANDIN_NO_VERSION  1: log the run but register no model
  STANDIN_NO_CHAMPION 1: log no champion value though a champion alias is set (a trainer that skips it)
  STANDIN_LINGER      seconds to wait after the run is logged and finished, before exiting
  STANDIN_BAD_ROWS    log this as data_check.rows, end the run FAILED and exit as ferryman.train does when
                      a data check failed (the contract's EXIT_DATA_CHECK_FAILED)
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ferryman.api import training_contract as contract
from ferryman_testing.models import make_identity_model


def champion_value(client: object, model: str, alias: str, metric: str) -> float | None:
    """The metric the champion's run logged: the stand-in's version of 'evaluate on the same holdout'."""
    try:
        version = client.get_model_version_by_alias(model, alias)  # type: ignore[attr-defined]
    except Exception:  # no such alias yet: nothing to beat
        return None
    value = client.get_run(version.run_id).data.metrics.get(metric)  # type: ignore[attr-defined]
    return float(value) if value is not None else None


def main() -> int:
    if os.environ.get("STANDIN_EXIT"):
        print("stand-in trainer: failing on purpose", file=sys.stderr)
        return int(os.environ["STANDIN_EXIT"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        from mlflow import MlflowClient

    env = os.environ
    client = MlflowClient()
    model = env[contract.ENV_REGISTERED_MODEL]
    mlflow.set_experiment(env[contract.ENV_EXPERIMENT])
    tags = {
        contract.RUN_TAG_TRAINING_JOB: env[contract.ENV_TRAINING_JOB],
        contract.RUN_TAG_TRAINING_JOB_UID: env[contract.ENV_TRAINING_JOB_UID],
    }
    if env.get("STANDIN_BAD_ROWS"):
        with mlflow.start_run(tags=tags):
            mlflow.log_metric(f"{contract.DATA_CHECK_METRIC_PREFIX}rows", float(env["STANDIN_BAD_ROWS"]))
            mlflow.end_run("FAILED")
        return contract.EXIT_DATA_CHECK_FAILED
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_metric(f"{contract.DATA_CHECK_METRIC_PREFIX}rows", 500.0)
        auc = float(env.get("STANDIN_AUC", "0.9"))
        mlflow.log_metric("auc", auc)
        champion_alias, metric = env.get(contract.ENV_CHAMPION_ALIAS), env.get(contract.ENV_CHAMPION_METRIC)
        if champion_alias and metric and env.get("STANDIN_NO_CHAMPION") != "1":
            value = champion_value(client, model, champion_alias, metric)
            if value is not None:
                mlflow.log_metric(f"{contract.CHAMPION_METRIC_PREFIX}{metric}", value)
        if env.get("STANDIN_NO_VERSION") == "1":
            return 0
        with tempfile.TemporaryDirectory() as directory:
            make_identity_model(Path(directory) / "model.onnx")
            mlflow.log_artifacts(directory, artifact_path="model")
        with contextlib.suppress(Exception):  # it exists already
            client.create_registered_model(model)
        version = client.create_model_version(model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        mlflow.set_tag(contract.RUN_TAG_MODEL_VERSION, str(version.version))
    print(f"stand-in trainer: run {run.info.run_id}, version {version.version}, auc {auc}")
    # Lets a test take MLflow down between the run being logged and the Job completing.
    time.sleep(float(env.get("STANDIN_LINGER", "0")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
