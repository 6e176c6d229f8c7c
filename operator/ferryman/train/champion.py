"""The champion: the version the promote alias names now, evaluated on the challenger's holdout.

The operator compares `champion.<metric>` with the run's own `<metric>`; both come from this run, on the
same rows, so a champion trained on other data is judged on today's holdout.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferryman.api import training_contract as contract
from ferryman.train.context import ContractError
from ferryman.train.mlflow_client import quiet_mlflow
from ferryman.train.onnx_model import onnx_predict
from ferryman.train.run import MAX_TAG_CHARS, TrainingRun

log = logging.getLogger("ferryman.train.champion")

Metric = Callable[[Any, Any], float]  # (true values, predictions) -> value, like sklearn.metrics


class ChampionUnavailable(RuntimeError):
    """The alias names a version that cannot be downloaded or run; the message names it and the error."""


@dataclass(frozen=True)
class ChampionResult:
    version: str
    metric: str
    value: float


def evaluate_champion(
    run: TrainingRun, features: Any, labels: Any, metric_name: str, metric: Metric, output: str | int = 0
) -> ChampionResult | None:
    """Download the champion's ONNX, predict `output` on features, log `champion.<metric_name>` and the
    champion's version. None (nothing logged) when there is no alias or no version behind it yet: the
    first model has nothing to beat. ContractError when the operator set FERRYMAN_CHAMPION_METRIC to
    another metric than `metric_name`."""
    context = run.context
    chosen = context.champion_metric or metric_name
    if chosen != metric_name:
        # Logged under the gate's name, this value would be compared with a different metric.
        raise ContractError(
            f"evaluate_champion(metric_name={metric_name!r}): the TrainingJob compares {chosen!r} "
            f"({contract.ENV_CHAMPION_METRIC}, validation.mustBeatChampion.metric); pass "
            f"metric_name={chosen!r} with the function that computes it"
        )
    alias = context.champion_alias
    name = context.registered_model
    if alias is None or name is None:
        log.info("no champion alias or registered model given: no champion to evaluate")
        return None
    version = _aliased_version(name, alias)
    if version is None:
        log.info("alias %r of %r names no version yet: the first model has no champion to beat", alias, name)
        return None
    mlflow = quiet_mlflow()
    try:
        value = float(metric(labels, onnx_predict(_download_onnx(name, version), features, output)))
        if math.isnan(value):
            raise ValueError(f"its {metric_name} on this holdout is nan (does it predict NaN?)")
    except Exception as error:  # any failure to load or run it: the gate cannot be judged without it
        message = f"champion {name} version {version} (alias {alias}) could not be evaluated: {error}"
        mlflow.set_tag(contract.RUN_TAG_CHAMPION_ERROR, message[:MAX_TAG_CHARS])
        raise ChampionUnavailable(message) from error
    mlflow.log_metric(f"{contract.CHAMPION_METRIC_PREFIX}{metric_name}", value)
    mlflow.set_tag(contract.RUN_TAG_CHAMPION_VERSION, version)
    return ChampionResult(version, metric_name, value)


def _aliased_version(name: str, alias: str) -> str | None:
    mlflow = quiet_mlflow()
    try:
        found = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as error:
        # No such registered model, or no such alias: both mean there is no champion yet.
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    return str(found.version)


def _download_onnx(name: str, version: str) -> bytes:
    mlflow = quiet_mlflow()
    with tempfile.TemporaryDirectory(prefix="ferryman-champion-") as scratch:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=scratch)
        )
        found = sorted(local.rglob("*.onnx")) if local.is_dir() else [local]
        if not found:
            raise FileNotFoundError(f"champion {name} version {version} has no .onnx artifact to evaluate")
        return found[0].read_bytes()
