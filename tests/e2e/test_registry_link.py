"""A ModelDeployment that tracks an MLflow alias, end to end: a real `mlflow server` (with its webhooks),
the operator, real serving pods loading pinned versions from the registry, Traefik and Prometheus."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    answered_through,
    apply_model,
    canary,
    host_of,
    status_of,
    wait_for_rollout_end,
    wait_until_serving,
)

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.bad_models import make_failing_model
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import infer_body, steady_load
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.model_deployments import condition_of, served_uri, track_uri
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import ferryman, running_operator
from ferryman_testing.polling import wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.registry import Registry
from ferryman_testing.servers import free_port
from ferryman_testing.traefik import Gateway

# Three rollouts and a pod restart in one test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(720)]

ALIAS = "production"
TRACKING = f"models:/{MODEL}@{ALIAS}"  # the registered model is named like the ModelDeployment
WEBHOOK_SECRET = "e2e-webhook-secret"
POLL_SECONDS = 3.0
REJECTED_TAG = "ferryman.dev/rejected/{namespace}/" + MODEL
PROMOTED_TAG = "ferryman.dev/promoted/{namespace}/" + MODEL


def pinned(version: str) -> str:
    return f"models:/{MODEL}/{version}"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("registry-models")
    make_failing_model(root / "failing" / "model.onnx")
    return {
        "good-1": make_gradient_boosting_model(root / "v1", trees=10).directory,
        "good-2": make_gradient_boosting_model(root / "v2", trees=12).directory,
        "failing": root / "failing",
    }


@pytest.fixture
def mlflow(cluster: DevCluster, tmp_path: Path) -> Iterator[MlflowServer]:
    """MLflow on the host address (pods download the pinned versions from it), delivering webhooks to
    the operator on loopback (MLflow refuses private addresses and plain http unless told)."""
    env = {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_CACHE_TTL": "0",
    }
    with MlflowServer(tmp_path, host=cluster.host_address, env=env) as server:
        yield server


def registry_with_versions(mlflow: MlflowServer, model_dirs: dict[str, Path]) -> Registry:
    """Versions 1 and 2 healthy, 3 answering 500 to every request; `production` names 1."""
    registry = Registry(mlflow.url)
    for name in ("good-1", "good-2", "failing"):
        registry.register(MODEL, model_dirs[name])
    registry.move_alias(MODEL, ALIAS, "1")
    return registry


@pytest.fixture
def webhook_port() -> int:
    return free_port()


def operator_settings(mlflow: MlflowServer, webhook_port: int | None) -> dict[str, str]:
    settings = {
        "FERRYMAN_MLFLOW_TRACKING_URI": mlflow.url,
        "FERRYMAN_REGISTRY_POLL_SECONDS": str(POLL_SECONDS),
    }
    if webhook_port is not None:
        settings["FERRYMAN_REGISTRY_WEBHOOK_ADDRESS"] = f"127.0.0.1:{webhook_port}"
        settings["FERRYMAN_REGISTRY_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    return settings


@pytest.fixture
def operator_polling(
    operator_kubeconfig: Path,
    kubectl: Kubectl,
    namespace: str,
    prometheus: PrometheusServer,
    mlflow: MlflowServer,
) -> Iterator[KopfRunner]:
    """The operator asking the registry every POLL_SECONDS, with no webhook."""
    settings = operator_settings(mlflow, None)
    with operator_with(operator_kubeconfig, kubectl, namespace, prometheus, settings) as runner:
        yield runner


@pytest.fixture
def operator_with_webhook(
    operator_kubeconfig: Path, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer,
    mlflow: MlflowServer, webhook_port: int,
) -> Iterator[KopfRunner]:  # fmt: skip
    """The operator receiving MLflow's alias webhooks (polling stays on)."""
    settings = operator_settings(mlflow, webhook_port)
    with operator_with(operator_kubeconfig, kubectl, namespace, prometheus, settings) as runner:
        yield runner


@contextmanager
def operator_with(
    operator_kubeconfig: Path,
    kubectl: Kubectl,
    namespace: str,
    prometheus: PrometheusServer,
    settings: dict[str, str],
) -> Iterator[KopfRunner]:
    install_crds(kubectl, *FERRYMAN_CRDS)
    with running_operator(operator_kubeconfig, namespace, prometheus.url, settings) as runner:
        yield runner
        # While the operator still runs, so that its finalizer is released.
        kubectl.run("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def seconds_until_canary(
    kubectl: Kubectl, namespace: str, uri: str, moved_at: float, timeout: float
) -> float:
    wait_for(
        f"a canary Deployment of {uri}",
        lambda: track_uri(kubectl, namespace, "canary", MODEL) == uri,
        timeout,
        every=0.2,
    )
    return time.monotonic() - moved_at


def served_version(gateway: Gateway, namespace: str) -> str | None:
    """The model version that answers one request through the Gateway (None: no answer yet)."""
    with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
        answer = client.post(f"/v2/models/{MODEL}/infer", json=infer_body(), headers=host_of(namespace))
    return str(answer.json()["model_version"]) if answer.status_code == 200 else None


def test_an_alias_is_pinned_followed_and_moved_back_after_a_rollback(
    cluster: DevCluster,
    kubectl: Kubectl, namespace: str, gateway: Gateway, mlflow: MlflowServer, model_dirs: dict[str, Path],
    webhook_port: int, operator_with_webhook: KopfRunner,
) -> None:  # fmt: skip
    registry = registry_with_versions(mlflow, model_dirs)
    registry.client.create_webhook(
        name="ferryman",
        url=f"http://127.0.0.1:{webhook_port}/registry/mlflow",
        events=["model_version_alias.created"],
        secret=WEBHOOK_SECRET,
    )
    strategy = canary([20, 50])
    apply_model(kubectl, namespace, gateway, TRACKING, strategy)
    status = wait_until_serving(kubectl, namespace, pinned("1"), gateway)
    assert status["stableVersion"] == "1" and status["alias"] == {
        "name": ALIAS,
        "model": MODEL,
        "version": "1",
    }
    stable = kubectl.get("deployment", f"{MODEL}-stable", namespace)
    assert served_uri(stable) == pinned("1"), "pods get the pinned version, never the alias"

    # 1. A move of the alias is a rollout, started by the webhook within seconds; promoted, tagged.
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        moved_at = time.monotonic()
        registry.move_alias(MODEL, ALIAS, "2")
        assert seconds_until_canary(kubectl, namespace, pinned("2"), moved_at, timeout=30) <= 10
        status = wait_for_rollout_end(kubectl, namespace, pinned("2"))
        report = load.stop()
    assert status["phase"] == "Succeeded" and status["stableVersion"] == "2", status
    assert report.errors == 0, report
    wait_for(
        "v2 tagged promoted",
        lambda: PROMOTED_TAG.format(namespace=namespace) in registry.tags(MODEL, "2"),
        timeout=30,
    )
    assert registry.alias_version(MODEL, ALIAS) == "2"

    # 2. A failing version: rolled back, the alias back on 2, version 3 tagged with why.
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        registry.move_alias(MODEL, ALIAS, "3")
        status = wait_for_rollout_end(kubectl, namespace, pinned("3"))
    assert status["phase"] == "RolledBack", status
    wait_for("the alias back on 2", lambda: registry.alias_version(MODEL, ALIAS) == "2", timeout=30)
    rejected = json.loads(
        wait_for(
            "v3 tagged",
            lambda: registry.tags(MODEL, "3").get(REJECTED_TAG.format(namespace=namespace)),
            timeout=30,
        )
    )
    assert rejected["modelDeployment"] == f"{namespace}/{MODEL}" and "error rate" in rejected["reason"]

    # 3. The alias moved to 3 again: not rolled out; the status says why.
    registry.move_alias(MODEL, ALIAS, "3")

    def refused() -> dict[str, Any] | None:
        current = status_of(kubectl, namespace)
        return current if condition_of(current, "AliasFollowed").get("reason") == "VersionRejected" else None

    status = wait_for("the move refused", refused, timeout=30)
    time.sleep(2 * POLL_SECONDS)
    status = status_of(kubectl, namespace)
    assert status["phase"] == "RolledBack" and status["stableUri"] == pinned("2"), status
    assert "ferryman promote" in condition_of(status, "AliasFollowed")["message"]
    assert answered_through(gateway, namespace)

    # 4. A pod restarted meanwhile still serves the pinned version 2, not the alias's 3.
    kubectl.run("delete", "pods", "-n", namespace, "-l", "ferryman.dev/track=stable", "--wait=true")
    wait_for("a new stable pod answering", lambda: served_version(gateway, namespace), timeout=120)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        time.sleep(3)
        report = load.stop()
    assert set(report.versions) == {"2"} and report.errors == 0, report
    assert served_uri(kubectl.get("deployment", f"{MODEL}-stable", namespace)) == pinned("2")

    # 5. `ferryman promote` overrides: the tag is removed and version 3 is tried again (and fails again).
    first_rejection = rejected["at"]
    ferryman("promote", MODEL, "-n", namespace, kubeconfig=Path(cluster.kubeconfig))
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        wait_for(
            "version 3 rolled out again",
            lambda: status_of(kubectl, namespace)["phase"] in ("Pending", "Progressing"),
            30,
        )
        assert status_of(kubectl, namespace)["canaryUri"] == pinned("3")
        status = wait_for_rollout_end(kubectl, namespace, pinned("3"))
    assert status["phase"] == "RolledBack", status

    def rejected_again() -> dict[str, Any] | None:
        raw = registry.tags(MODEL, "3").get(REJECTED_TAG.format(namespace=namespace))
        tag = json.loads(raw) if raw else None
        return tag if tag and tag["at"] != first_rejection else None

    wait_for("v3 tagged again", rejected_again, timeout=30)


def test_polling_follows_a_move_and_a_registry_outage_changes_nothing_users_see(
    kubectl: Kubectl, namespace: str, gateway: Gateway, mlflow: MlflowServer, model_dirs: dict[str, Path],
    operator_polling: KopfRunner,
) -> None:  # fmt: skip
    registry = registry_with_versions(mlflow, model_dirs)
    strategy = canary([20, 50])
    apply_model(kubectl, namespace, gateway, TRACKING, strategy)
    wait_until_serving(kubectl, namespace, pinned("1"), gateway)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        moved_at = time.monotonic()
        registry.move_alias(MODEL, ALIAS, "2")
        # One poll period, plus the timer's tick and the API round trips.
        assert seconds_until_canary(kubectl, namespace, pinned("2"), moved_at, timeout=30) <= POLL_SECONDS + 5
        wait_for("the canary taking traffic", lambda: status_of(kubectl, namespace).get("canaryWeight"), 90)

        mlflow.stop()
        unreachable = wait_for(
            "RegistryReachable=False",
            lambda: condition_of(status_of(kubectl, namespace), "RegistryReachable").get("status") == "False",
            timeout=3 * POLL_SECONDS + 5,
        )
        assert unreachable
        time.sleep(2 * POLL_SECONDS)  # down for longer than a poll period
        mlflow.start()
        wait_for(
            "RegistryReachable=True",
            lambda: condition_of(status_of(kubectl, namespace), "RegistryReachable").get("status") == "True",
            timeout=30,
        )
        status = wait_for_rollout_end(kubectl, namespace, pinned("2"))
        report = load.stop()
    assert status["phase"] == "Succeeded", status
    assert report.errors == 0, report
    wait_for(
        "v2 tagged promoted",
        lambda: PROMOTED_TAG.format(namespace=namespace) in registry.tags(MODEL, "2"),
        timeout=30,
    )
