"""Gateway mode on a cluster without the Gateway API: Degraded with the fix, not endless silent retries."""

from __future__ import annotations

import pytest
from kopf.testing import KopfRunner

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_degraded

# Pods to Ready (up to two minutes on a busy machine) before the checks.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

HTTPROUTE_CRD = "httproutes.gateway.networking.k8s.io"


@pytest.fixture
def no_gateway_api(kubectl: Kubectl) -> None:
    """The cluster tier installs no Gateway API, but an e2e run on the kept cluster may have: remove it.

    Safe under the cluster lock: every e2e session installs the Gateway API CRDs again before use.
    """
    kubectl.run("delete", "crd", HTTPROUTE_CRD, "--ignore-not-found", "--wait=true", timeout=120)


def test_gateway_mode_without_gateway_api_is_degraded_with_the_fix(
    no_gateway_api: None, kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    md = model_deployment("fraud", namespace, model_uri)
    md["spec"]["traffic"] = {"mode": "gateway", "gateway": {"parentRefs": [{"name": "web"}]}}
    kubectl.apply([md])
    status = wait_until_degraded(kubectl, namespace)

    assert "HTTPRoute (gateway.networking.k8s.io/v1) is not served by this cluster" in status["message"]
    assert "install the Gateway API CRDs" in status["message"]
    assert "spec.traffic.mode: replicas" in status["message"]
    events = kubectl.run(
        "get", "events", "-n", namespace, "--field-selector", "reason=InvalidSpec", "-o", "name"
    )
    assert events.strip()
