"""The operator's own /metrics: the phase of each ModelDeployment, as the real API server reports it."""

from __future__ import annotations

import os
import urllib.request

import pytest
from kopf.testing import KopfRunner

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_serving
from ferryman_testing.polling import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _scrape() -> str:
    # running_operator gives each operator a metrics port of its own.
    address = os.environ["FERRYMAN_METRICS_ADDRESS"]
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_the_operator_exports_each_model_deployments_phase(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    wait_until_serving(kubectl, namespace)
    labels = f'model_deployment="fraud",namespace="{namespace}"'  # the exposition sorts labels
    succeeded = f'ferryman_rollout_phase{{{labels},phase="Succeeded"}} 1.0'
    exposition = wait_for(
        "the Succeeded phase on /metrics", lambda: succeeded in (text := _scrape()) and text
    )
    assert f'ferryman_rollout_phase{{{labels},phase="Progressing"}} 0.0' in exposition

    kubectl.delete("modeldeployment", "fraud", namespace, wait=True)
    wait_for("the series gone", lambda: labels not in _scrape())
