"""`with training_run() as run:`: one MLflow run for one training, with lineage, params, seed and env."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ferryman.api import training_contract as contract
from ferryman.api.trainingjob import DataCheck
from ferryman.train import environment
from ferryman.train.context import ContractError, TrainingContext, context_from_env
from ferryman.train.data_checks import CheckResult, DataCheckFailed, run_data_checks
from ferryman.train.mlflow_client import quiet_mlflow

# Tags beside the contract's: for people reading the run, not for the operator.
RUN_TAG_PYTHON = "ferryman.dev/python"
RUN_TAG_PLATFORM = "ferryman.dev/platform"
ENVIRONMENT_ARTIFACT = "environment/requirements.txt"
MAX_TAG_CHARS = 5000


class TrainingRun:
    """The open run. Its methods log under the contract's names; plain `mlflow.log_*` calls work too."""

    def __init__(self, context: TrainingContext, run_id: str, seed: int, git_commit: str | None) -> None:
        self.context = context
        self.run_id = run_id
        self.seed = seed
        self.git_commit = git_commit
        self.params = {**context.params, "seed": str(seed)}
        self.data_checks: list[CheckResult] = []
        self.data_sha256: str | None = None

    def check_data(
        self, frame: pd.DataFrame, checks: Sequence[DataCheck] | None = None, gx_suite: Any = None
    ) -> list[CheckResult]:
        """Run the TrainingJob's data checks (or `checks`), and a Great Expectations suite when given,
        on frame; log each measured value as `data_check.<name>` and the frame's content hash; raise
        DataCheckFailed if any failed."""
        mlflow = quiet_mlflow()
        self.data_sha256 = frame_sha256(frame)
        mlflow.set_tag(contract.RUN_TAG_DATA_HASH, self.data_sha256)
        results = run_data_checks(frame, self.context.data_checks if checks is None else checks)
        if gx_suite is not None:
            from ferryman.train.gx_checks import run_gx_suite

            results += run_gx_suite(frame, gx_suite)
        measured = {
            f"{contract.DATA_CHECK_METRIC_PREFIX}{r.name}": r.value for r in results if r.value is not None
        }
        if measured:
            mlflow.log_metrics(measured)
        self.data_checks.extend(results)
        failed = [result for result in results if not result.passed]
        if failed:
            error = DataCheckFailed(failed)
            # For people and for the operator's message; MLflow keeps at most 8,000 characters of a tag.
            mlflow.set_tag(contract.RUN_TAG_DATA_CHECKS_FAILED, str(error)[:MAX_TAG_CHARS])
            raise error
        return results

    def log_metric(self, name: str, value: float) -> None:
        quiet_mlflow().log_metric(name, float(value))

    def metrics(self) -> dict[str, float]:
        """Every metric the run holds on the server (the SDK's and the script's own)."""
        client = quiet_mlflow().MlflowClient()
        return dict(client.get_run(self.run_id).data.metrics)


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a frame (values, index and column names), stable across processes."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=True)
    except TypeError:  # cells pandas cannot hash (lists, dicts): hash their text instead
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=True)
    digest.update(np.ascontiguousarray(hashed.to_numpy()).tobytes())
    return digest.hexdigest()


@contextmanager
def training_run(
    experiment: str | None = None,
    registered_model: str | None = None,
    params: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    run_name: str | None = None,
) -> Iterator[TrainingRun]:
    """Start the MLflow run the operator will judge. The arguments are defaults that the contract
    environment (`env`, else os.environ) overrides. An exception inside the block ends the run FAILED."""
    context = context_from_env(os.environ if env is None else env, experiment, registered_model, params)
    try:
        seed = environment.choose_seed(context.params.get("seed"))
    except ValueError as error:  # no retry of the Job can fix it
        from_spec = context.params.get("seed") != (params or {}).get("seed")  # the environment's wins
        source = f"{contract.ENV_PARAMS} (spec.params)" if from_spec else "training_run(params=...)"
        raise ContractError(f"{source}: {error}") from None
    mlflow = quiet_mlflow()
    mlflow.set_tracking_uri(context.tracking_uri)
    mlflow.set_experiment(context.experiment)
    environment.fix_seed(seed)
    commit = context.git_commit or environment.git_commit()
    with mlflow.start_run(run_name=run_name, tags=lineage_tags(context, commit)) as active:
        run = TrainingRun(context, active.info.run_id, seed, commit)
        mlflow.log_params(run.params)
        mlflow.log_text(environment.installed_packages(), ENVIRONMENT_ARTIFACT)
        yield run


def run_trainer(train: Callable[[], object]) -> int:
    """The process exit code of a training function, for `sys.exit(run_trainer(train))`: 0 when it
    returned, the contract's codes (no retry helps) when a data check failed or the environment is wrong.
    Any other exception propagates (exit 1), and the Job retries it up to spec.backoffLimit."""
    try:
        train()
    except DataCheckFailed as error:
        print(f"training stopped before it began: {error}", file=sys.stderr)
        return contract.EXIT_DATA_CHECK_FAILED
    except ContractError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return contract.EXIT_CONTRACT_ERROR
    return 0


def lineage_tags(context: TrainingContext, commit: str | None) -> dict[str, str]:
    """The run's tags: who asked for it (TrainingJob), from what code and image, on what data."""
    system = environment.python_and_platform()
    tags = {
        contract.RUN_TAG_TRAINING_JOB: context.training_job,
        contract.RUN_TAG_TRAINING_JOB_UID: context.training_job_uid,
        contract.RUN_TAG_GIT_COMMIT: commit,
        "mlflow.source.git.commit": commit,
        contract.RUN_TAG_IMAGE: context.image,
        contract.RUN_TAG_DATA_URI: context.data_uri,
        contract.RUN_TAG_DATA_VERSION: context.data_version,
        RUN_TAG_PYTHON: system["python"],
        RUN_TAG_PLATFORM: system["platform"],
        "mlflow.source.name": " ".join(sys.argv) or None,
    }
    return {name: value for name, value in tags.items() if value}
