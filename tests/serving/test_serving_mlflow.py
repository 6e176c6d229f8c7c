"""MLflow models:/name/version and models:/name@alias, against a real MLflow server (SQLite backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.registry import Registry
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

MODEL = "fraud-detector"


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, gradient_boosting: GradientBoostingFiles
) -> Iterator[str]:
    """An MLflow server with two versions of MODEL; alias `production` names version 1."""
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        registry = Registry(server.url)
        for _ in range(2):
            registry.register(MODEL, gradient_boosting.directory)
        registry.move_alias(MODEL, "production", "1")
        yield server.url


@pytest.mark.parametrize(
    ("uri", "version"), [(f"models:/{MODEL}@production", "1"), (f"models:/{MODEL}/2", "2")]
)
def test_registered_model_is_served_with_its_registry_version(
    registry: str, logs_dir: Path, tmp_path: Path, uri: str, version: str
) -> None:
    """The alias or version resolves through the registry REST API; metadata and metrics show the version."""
    with ServingProcess(
        logs_dir,
        model_uri=uri,
        model_name="fraud",
        mlflow_tracking_uri=registry,
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        assert httpx.get(f"{server.url}/v2/models/fraud").json()["versions"] == [version]
        metrics = httpx.get(f"{server.url}/metrics").text
        assert f'ferryman_model_info{{model="fraud",source="models",version="{version}"}} 1.0' in metrics
        assert "ferryman_feature_value_bucket" in metrics, "profile.json travels with the model"


def test_unknown_alias_keeps_the_server_unready(registry: str, logs_dir: Path, tmp_path: Path) -> None:
    """A missing alias is a load failure: alive, unready, and the log names the registry answer."""
    with ServingProcess(
        logs_dir,
        model_uri=f"models:/{MODEL}@nonexistent",
        mlflow_tracking_uri=registry,
        download_dir=str(tmp_path),
        drain_seconds="0",
    ) as server:
        server.wait_live()
        for _ in range(200):
            if "model failed to load" in server.logs():
                break
            httpx.get(f"{server.url}/v2/health/live")
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
        assert "registered-models/alias" in server.logs()
