"""A model registry for tests, through MLflow's own client: register versions, move aliases, read tags."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def mlflow_client(url: str) -> Any:
    """MlflowClient for the server at url. mlflow's import warns about its own dependencies; those are
    not ours to fix and the suite turns warnings into errors, so they are silenced for this import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=url, registry_uri=url)


class Registry:
    """One MLflow server's registry, as the people and pipelines that use it act on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = mlflow_client(url)
        self._experiment: str | None = None

    def register(self, model: str, directory: Path) -> str:
        """Log `directory` (model.onnx, profile.json) as a run's artifacts and register it; the version."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self._experiment is None:
                self._experiment = self.client.create_experiment("ferryman-tests")
            if not self.client.search_registered_models(filter_string=f"name='{model}'"):
                self.client.create_registered_model(model)
            run = self.client.create_run(self._experiment)
            self.client.log_artifacts(run.info.run_id, str(directory), artifact_path="model")
            self.client.set_terminated(run.info.run_id)
            source = f"runs:/{run.info.run_id}/model"
            version = self.client.create_model_version(model, source, run_id=run.info.run_id)
        return str(version.version)

    def move_alias(self, model: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(model, alias, version)

    def alias_version(self, model: str, alias: str) -> str:
        return str(self.client.get_model_version_by_alias(model, alias).version)

    def tags(self, model: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model, version).tags)
