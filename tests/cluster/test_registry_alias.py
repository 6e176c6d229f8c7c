"""A new ModelDeployment tracking an alias that does not exist yet: nothing is guessed or deployed, the
status says why; once the alias is set, the pinned version is deployed (real API server, real MLflow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.model_deployments import condition_of, served_uri, status_of
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import wait_for
from ferryman_testing.registry import Registry

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

MODEL = "fraud"


@pytest.fixture
def mlflow(tmp_path: Path) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path) as server:
        yield server


@pytest.fixture
def operator_with_registry(
    operator_kubeconfig: Path, kubectl: Kubectl, namespace: str, mlflow: MlflowServer
) -> Iterator[KopfRunner]:
    settings = {"FERRYMAN_MLFLOW_TRACKING_URI": mlflow.url, "FERRYMAN_REGISTRY_POLL_SECONDS": "2"}
    with running_operator(operator_kubeconfig, namespace, settings=settings) as runner:
        yield runner
        kubectl.run("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def test_an_alias_not_set_yet_deploys_nothing_until_it_is(
    kubectl: Kubectl, namespace: str, mlflow: MlflowServer, operator_with_registry: KopfRunner, tmp_path: Path
) -> None:
    registry = Registry(mlflow.url)
    version = registry.register(MODEL, make_gradient_boosting_model(tmp_path / "v1", trees=10).directory)
    kubectl.apply([model_deployment(MODEL, namespace, f"models:/{MODEL}@production")])

    def waiting() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, MODEL)
        return status if "cannot resolve alias production" in (status.get("message") or "") else None

    status = wait_for("the status saying why", waiting, timeout=60)
    assert status["phase"] == "Pending"
    reachable = condition_of(status, "RegistryReachable")
    assert (reachable["status"], reachable["reason"]) == ("False", "AliasNotFound")
    assert "set the alias in MLflow" in reachable["message"]
    assert kubectl.get_json("deployments", "-n", namespace)["items"] == [], "nothing deployed on a guess"

    registry.move_alias(MODEL, "production", version)

    def deployed() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, MODEL)
        pinned = status.get("stableUri") == f"models:/{MODEL}/{version}"
        return (
            status if pinned and condition_of(status, "RegistryReachable").get("status") == "True" else None
        )

    status = wait_for("the pinned version deployed", deployed, timeout=60)
    assert status["stableVersion"] == version
    assert status["alias"] == {"name": "production", "model": MODEL, "version": version}
    (deployment,) = kubectl.get_json("deployments", "-n", namespace)["items"]
    assert served_uri(deployment) == f"models:/{MODEL}/{version}"
