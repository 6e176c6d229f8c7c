"""The operator set to `autoscaler: keda`: a ScaledObject instead of an HPA, checked against real parts.

KEDA itself (its operator and metrics server) is not run here: the API server validates each ScaledObject
against KEDA's own CRD (from the Go module github.com/kedacore/keda/v2, scripts/install-e2e-tools), and
the trigger's query is asked of the real Prometheus scraping the real serving pods under load: what KEDA
would read. Scaling by KEDA is not exercised (docs/autoscaling.md says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import MODEL, apply_model, host_of, wait_until_serving

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.bad_models import make_slow_model
from ferryman_testing.e2e_tools import E2ETools
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import concurrent_clients
from ferryman_testing.model_deployments import wait_until_degraded
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCALED_OBJECT_CRD = "scaledobjects.keda.sh"
AUTOSCALING = {"autoscaling": {"minReplicas": 1, "maxReplicas": 4, "targetInFlight": 4}}
CLIENTS = 8


@pytest.fixture
def keda_operator(
    kubectl: Kubectl, namespace: str, prometheus: PrometheusServer, operator_kubeconfig: Path
) -> Iterator[KopfRunner]:
    """The operator making ScaledObjects, with the chart's RBAC."""
    install_crds(kubectl, *FERRYMAN_CRDS)
    settings = {"FERRYMAN_AUTOSCALER": "keda"}
    with running_operator(operator_kubeconfig, namespace, prometheus.url, settings) as runner:
        yield runner
        kubectl.run("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


@pytest.fixture
def keda_crd(kubectl: Kubectl, e2e_tools: E2ETools) -> None:
    install_crds(kubectl, e2e_tools.keda_crds)


@pytest.fixture
def no_keda(kubectl: Kubectl) -> None:
    """A cluster without KEDA (safe under the cluster lock: the test that needs it installs it again)."""
    kubectl.run("delete", "crd", SCALED_OBJECT_CRD, "--ignore-not-found", "--wait=true", timeout=120)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Slow enough (a matrix product per request) that requests are in flight at the pods."""
    return make_slow_model(tmp_path_factory.mktemp("keda") / "model.onnx", size=400).as_uri()


def test_a_scaled_object_takes_the_hpas_place_and_its_query_reads_the_pods_in_flight(
    keda_crd: None,
    kubectl: Kubectl,
    namespace: str,
    gateway: Gateway,
    prometheus: PrometheusServer,
    slow_model: str,
    keda_operator: KopfRunner,
) -> None:
    """The ScaledObject is accepted by KEDA's schema, owned by the ModelDeployment, scales the stable
    Deployment (whose replicas the operator leaves alone); no HPA of Ferryman's; its Prometheus query
    answers the stable pods' requests in flight under load; removing autoscaling removes it."""
    apply_model(kubectl, namespace, gateway, slow_model, strategy=None, serving=AUTOSCALING)
    wait_until_serving(kubectl, namespace, slow_model, gateway)
    scaled = kubectl.get("scaledobject", f"{MODEL}-stable", namespace)
    (owner,) = scaled["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("ModelDeployment", MODEL)
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{MODEL}-stable"
    hpas = kubectl.get_json("hpa", "-n", namespace)["items"]
    assert hpas == [], "KEDA makes the HPA; Ferryman must not make one of the same name"
    stable = kubectl.get("deployment", f"{MODEL}-stable", namespace)
    assert stable["spec"]["replicas"] == 1

    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == prometheus.url
    with concurrent_clients(gateway.base_url, MODEL, CLIENTS, headers=host_of(namespace)) as clients:

        def in_flight() -> float:
            samples = prometheus.query(trigger["metadata"]["query"])
            if not samples or samples[0].value < 1:
                raise NotYet(samples)
            return samples[0].value

        value = wait_for("the trigger's query to see requests in flight", in_flight, timeout=90)
    assert sum(c.snapshot().total for c in clients) > 0
    assert 1 <= value <= CLIENTS, value  # requests in flight at the one stable pod, averaged over 1m

    apply_model(kubectl, namespace, gateway, slow_model, strategy=None)
    wait_for(
        "the ScaledObject removed with autoscaling",
        lambda: not kubectl.get_json("scaledobject", "-n", namespace)["items"],
        timeout=60,
    )


def test_without_keda_an_autoscaled_model_deployment_is_degraded_with_the_fix(
    no_keda: None,
    kubectl: Kubectl,
    namespace: str,
    gateway: Gateway,
    slow_model: str,
    keda_operator: KopfRunner,
) -> None:
    apply_model(kubectl, namespace, gateway, slow_model, strategy=None, serving=AUTOSCALING)
    status = wait_until_degraded(kubectl, namespace, MODEL)
    assert "ScaledObject (keda.sh/v1alpha1) is not served by this cluster" in status["message"]
    assert "install KEDA" in status["message"]
