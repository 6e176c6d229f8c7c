"""Canary rollouts end to end: real serving pods, Traefik weights, Prometheus analysis, the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    canary,
    events,
    model_deployment,
    status_of,
    wait_for_phase,
    wait_for_rollout_end,
    wait_until_serving,
)
from tests.support.bad_models import make_failing_model, make_slow_model
from tests.support.cluster import DevCluster
from tests.support.kube_cli import Kubectl
from tests.support.load import steady_load
from tests.support.models import make_gradient_boosting_model
from tests.support.operator import install_crds, running_operator
from tests.support.prometheus import PrometheusServer
from tests.support.traefik import Gateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """file:// URIs of a stable model, a healthy new version, and the harness's bad candidates."""
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri(),
        "v2": make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri(),
        "failing": make_failing_model(root / "failing" / "model.onnx").as_uri(),
        "slow": make_slow_model(root / "slow" / "model.onnx", size=1000).as_uri(),
        "missing": (root / "missing" / "model.onnx").as_uri(),
    }


@pytest.fixture
def operator(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer
) -> Iterator[KopfRunner]:
    install_crds(kubectl)
    with running_operator(Path(cluster.kubeconfig), namespace, prometheus.url) as runner:
        yield runner


def deploy_stable(
    kubectl: Kubectl, namespace: str, gateway: Gateway, uri: str, strategy: dict[str, Any]
) -> None:
    kubectl.apply([model_deployment(namespace, uri, strategy, gateway.parent_ref)])
    wait_until_serving(kubectl, namespace, uri)


def roll_out(kubectl: Kubectl, namespace: str, gateway: Gateway, uri: str, strategy: dict[str, Any]) -> None:
    kubectl.apply([model_deployment(namespace, uri, strategy, gateway.parent_ref)])


def test_healthy_canary_is_promoted_through_all_steps(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """Every step passes analysis; the new version becomes stable and serves all traffic."""
    strategy = canary([20, 50])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20) as load:
        roll_out(kubectl, namespace, gateway, models["v2"], strategy)
        weights_seen = set()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            status = status_of(kubectl, namespace)
            weights_seen.add(status.get("canaryWeight"))
            if status.get("phase") == "Succeeded" and status.get("stableUri") == models["v2"]:
                break
            time.sleep(0.5)
        report = load.stop()
    assert status["phase"] == "Succeeded", status
    assert {20, 50} <= weights_seen
    assert report.errors == 0, report
    new_version = status["stableVersion"]
    assert report.versions[new_version] > 0
    assert events(kubectl, namespace, "Promoted")


def test_canary_with_errors_is_rolled_back(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A canary answering 5xx fails analysis against stable; weight returns to 0 and an Event says why."""
    strategy = canary([20, 50])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20):
        roll_out(kubectl, namespace, gateway, models["failing"], strategy)
        status = wait_for_rollout_end(kubectl, namespace, models["failing"])
    assert status["phase"] == "RolledBack", status
    assert status["canaryWeight"] == 0
    assert status["stableUri"] == models["v1"]
    (message,) = events(kubectl, namespace, "RolledBack")
    assert "error rate" in message
