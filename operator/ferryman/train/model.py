"""Log the model as the serving image loads it, and register it: `model/` holds model.onnx,
profile.json (the drift reference, from the training features) and model_card.md."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferryman.api import training_contract as contract
from ferryman.train.card import ModelCard, render_card
from ferryman.train.context import ContractError
from ferryman.train.mlflow_client import quiet_mlflow
from ferryman.train.onnx_model import as_feature_matrix, onnx_predict, onnx_session
from ferryman.train.run import TrainingRun
from ferryman_serving.profile import PROFILE_FILENAME, build_profile, save_profile
from ferryman_serving.sources import MODEL_FILENAME

MODEL_ARTIFACT_PATH = "model"
CARD_FILENAME = "model_card.md"


def log_model(
    run: TrainingRun,
    onnx_bytes: bytes,
    training_features: Any,
    intended_use: str,
    feature_names: Sequence[str] | None = None,
    prediction_output: str | None = None,
    prediction_column: int | None = None,
) -> str:
    """Log model.onnx, its reference profile and card under `model/`, register a version of the
    registered model, tag the run with it; returns the version. `prediction_output`/`prediction_column`
    choose what the prediction histogram watches (e.g. "probabilities", 1); default: the first output."""
    name = run.context.registered_model
    if name is None:
        raise ContractError("no registered model: set FERRYMAN_REGISTERED_MODEL or pass registered_model=")
    mlflow = quiet_mlflow()
    with tempfile.TemporaryDirectory(prefix="ferryman-model-") as scratch:
        directory = Path(scratch)
        (directory / MODEL_FILENAME).write_bytes(onnx_bytes)
        profile = reference_profile(onnx_bytes, training_features, feature_names, prediction_output,
                                    prediction_column)  # fmt: skip
        save_profile(profile, directory / PROFILE_FILENAME)
        (directory / CARD_FILENAME).write_text(
            render_card(card_of(run, name, intended_use)), encoding="utf-8"
        )
        mlflow.log_artifacts(str(directory), artifact_path=MODEL_ARTIFACT_PATH)
    version = register(run, name)
    mlflow.set_tag(contract.RUN_TAG_MODEL_VERSION, version)
    return version


def reference_profile(
    onnx_bytes: bytes,
    training_features: Any,
    feature_names: Sequence[str] | None,
    prediction_output: str | None,
    prediction_column: int | None,
) -> Any:
    """The ferryman_serving profile of the training features and the model's predictions on them."""
    feature_names = names_in_column_order(training_features, feature_names)
    matrix = as_feature_matrix(training_features)
    session = onnx_session(onnx_bytes)
    output = prediction_output or session.get_outputs()[0].name
    predictions = onnx_predict(onnx_bytes, matrix, output)
    return build_profile(
        matrix,
        predictions,
        feature_names=[str(n) for n in feature_names] if feature_names is not None else None,
        input_name=session.get_inputs()[0].name,
        prediction_output=output,
        prediction_column=prediction_column,
    )


def names_in_column_order(
    training_features: Any, feature_names: Sequence[str] | None
) -> Sequence[str] | None:
    """A DataFrame's own column names, or `feature_names` when they are exactly those. Batch scoring picks
    input columns by the profile's names, in the profile's order: names in another order than the
    columns the model was trained on fed it the wrong features, with no error anywhere."""
    columns = getattr(training_features, "columns", None)
    if columns is None:
        return feature_names
    column_names = [str(column) for column in columns]
    if feature_names is not None and [str(name) for name in feature_names] != column_names:
        raise ValueError(
            f"feature_names {list(feature_names)} are not the DataFrame's columns {column_names} in order; "
            "leave feature_names out to use the columns, or reorder the DataFrame"
        )
    return column_names


def card_of(run: TrainingRun, model_name: str, intended_use: str) -> ModelCard:
    context = run.context
    return ModelCard(
        model_name=model_name,
        intended_use=intended_use,
        run_id=run.run_id,
        experiment=context.experiment,
        data_uri=context.data_uri,
        data_version=context.data_version,
        data_sha256=run.data_sha256,
        metrics=run.metrics(),
        data_checks=run.data_checks,
        params=run.params,
        training_job=context.training_job,
        training_job_uid=context.training_job_uid,
        git_commit=run.git_commit,
        image=context.image,
        command=" ".join(["python", *sys.argv]) if sys.argv and sys.argv[0] else None,
    )


def register(run: TrainingRun, name: str) -> str:
    """A new version of `name` from this run's `model/`, tagged with the TrainingJob that produced it."""
    mlflow = quiet_mlflow()
    client = mlflow.MlflowClient()
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags = {contract.VERSION_TAG_TRAINING_JOB: run.context.training_job} if run.context.training_job else {}
    source = f"runs:/{run.run_id}/{MODEL_ARTIFACT_PATH}"
    version = client.create_model_version(name, source, run_id=run.run_id, tags=tags)
    return str(version.version)
