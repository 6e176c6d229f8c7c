"""A canary rollout driven by the operator that `helm install` of charts/ferryman runs: the real operator
image (localhost/ferryman-operator:dev) in the local cluster's pods, talking to the API server with the
ServiceAccount token the pod runner mounts, with only the chart's RBAC, two replicas and leader election.

No operator runs in the test process or as a host process for this namespace: every status write,
Event and route weight below comes from the installed operator's leader pod.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    canary,
    events,
    host_of,
    status_of,
    wait_until_serving,
)

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.chart_release import helm_install, helm_uninstall
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import steady_load
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.polling import wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

RELEASE = "ferryman"  # the Deployment, ServiceAccount and Lease are all named after the release
OPERATOR_IMAGE = ("localhost/ferryman-operator", "dev")  # scripts/build-images
OPERATOR_PODS = "app.kubernetes.io/name=ferryman-operator"
STEPS = [25, 50]
WEBHOOK_SECRET = "mlflow-webhook"
WEBHOOK_SLICE = f"{RELEASE}-registry-webhook-leader"
SHIFT_TARGET = re.compile(r"-> (\d+)%")


@contextmanager
def installed_release(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer, *settings: str
) -> Iterator[str]:
    """The chart in the test's namespace, watching only it; `settings` are more --set values."""
    install_crds(kubectl, *FERRYMAN_CRDS)  # helm installs with --skip-crds: the CRDs are cluster-wide
    repository, tag = OPERATOR_IMAGE
    helm_install(
        cluster.kubeconfig, RELEASE, namespace, f"image.repository={repository}", f"image.tag={tag}",
        f"watchNamespaces={{{namespace}}}", f"operator.prometheusUrl={prometheus.url_for_pods}", *settings,
    )  # fmt: skip
    try:
        yield namespace
        # While the operator still runs, so that its finalizer (it guards rollout timers) is released.
        kubectl.run("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
    finally:
        helm_uninstall(cluster.kubeconfig, RELEASE, namespace)


@pytest.fixture
def installed_operator(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer
) -> Iterator[str]:
    with installed_release(cluster, kubectl, namespace, prometheus) as installed:
        yield installed


@pytest.fixture
def installed_with_webhook(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer
) -> Iterator[str]:
    """The same with the registry webhook on (its endpoint needs a registry; none is asked here)."""
    kubectl.run("create", "secret", "generic", WEBHOOK_SECRET, "-n", namespace, "--from-literal=secret=e2e")
    webhook = (
        f"operator.registryWebhookSecret.name={WEBHOOK_SECRET}",
        "operator.mlflowTrackingUri=http://127.0.0.1:9",
    )
    with installed_release(cluster, kubectl, namespace, prometheus, *webhook) as installed:
        yield installed


def leader_pod(kubectl: Kubectl, namespace: str) -> str | None:
    """The operator pod named by the Lease (identity `<hostname>_<suffix>`; the hostname is the pod's)."""
    holder = kubectl.run("get", "lease", RELEASE, "-n", namespace, "--ignore-not-found",
                         "-o", "jsonpath={.spec.holderIdentity}").strip()  # fmt: skip
    pods = kubectl.get_json("pods", "-n", namespace, "-l", OPERATOR_PODS)["items"]
    return next((p["metadata"]["name"] for p in pods if holder.startswith(p["metadata"]["name"] + "_")), None)


def operator_logs(cluster: DevCluster, namespace: str) -> dict[str, str]:
    """The operator containers' output, from the pod runner's log files (docs/local-cluster.md#files)."""
    pods_dir = cluster.kubeconfig.parent / "ferryman-runner" / "pods"
    return {str(log): log.read_text() for log in pods_dir.glob(f"{namespace}_{RELEASE}-*/operator.log")}


def webhook_slice_addresses(kubectl: Kubectl, namespace: str) -> list[str] | None:
    slices = kubectl.get_json(
        "endpointslices", "-n", namespace, f"--field-selector=metadata.name={WEBHOOK_SLICE}"
    )
    return [a for e in slices["items"][0]["endpoints"] for a in e["addresses"]] if slices["items"] else None


def route_weights(kubectl: Kubectl, namespace: str) -> dict[str, int]:
    route = kubectl.get("httproute", MODEL, namespace)
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def test_the_helm_installed_operator_image_drives_a_canary_rollout_to_completion(
    cluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    gateway: Gateway,
    installed_operator: str,
    tmp_path: Path,
) -> None:
    """v1 served, then v2 by canary 25% -> 50% -> promoted, by the leader pod of the Helm release."""
    # Without a ServiceAccount token in the pod, neither replica ever reaches the API server to lead.
    leader = wait_for("an operator pod to lead", lambda: leader_pod(kubectl, installed_operator), timeout=120)
    v1 = make_gradient_boosting_model(tmp_path / "v1", trees=10).model_path.as_uri()
    v2 = make_gradient_boosting_model(tmp_path / "v2", trees=12).model_path.as_uri()
    strategy = canary(STEPS)
    apply_model(kubectl, namespace, gateway, v1, strategy)
    wait_until_serving(kubectl, namespace, v1, gateway)
    weights_seen: list[dict[str, int]] = []
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        apply_model(kubectl, namespace, gateway, v2, strategy)
        started = time.monotonic()

        def promoted() -> dict[str, Any] | None:
            weights = route_weights(kubectl, namespace)
            if not weights_seen or weights_seen[-1] != weights:
                weights_seen.append(weights)
            status = status_of(kubectl, namespace)
            return status if status.get("phase") == "Succeeded" and status.get("stableUri") == v2 else None

        status = wait_for("v2 promoted by the installed operator", promoted, timeout=180, every=0.5)
        rollout_seconds = time.monotonic() - started
        report = load.stop()
    print(f"   installed operator ({leader}): rollout of v2 took {rollout_seconds:.1f} s")
    assert status["phase"] == "Succeeded", status
    shifted = Counter(
        int(match.group(1))
        for message in events(kubectl, namespace, "TrafficShifted")
        if (match := SHIFT_TARGET.search(message))
    )
    assert all(shifted[weight] == 1 for weight in STEPS), shifted
    canary_weights = [w.get(f"{MODEL}-canary", 0) for w in weights_seen]
    assert set(STEPS) <= set(canary_weights), weights_seen
    assert all(sum(w.values()) == 100 for w in weights_seen), weights_seen
    gateway.wait_for_weights(namespace, MODEL, {f"{MODEL}-stable": 100, f"{MODEL}-canary": 0}, timeout=15)
    assert report.errors == 0, report
    logs = operator_logs(cluster, namespace)
    assert len(logs) == 2, list(logs)  # both replicas ran as images and wrote their output
    leader_log = next(text for path, text in logs.items() if f"_{leader}_" in path)
    assert "leads" in leader_log, leader_log[-2000:]
    for path, text in logs.items():  # the chart's RBAC granted everything the rollout needed
        assert "forbidden" not in text, (path, text[-2000:])


def test_the_webhook_service_of_the_helm_release_leads_to_the_leader(
    cluster: DevCluster, kubectl: Kubectl, installed_with_webhook: str
) -> None:
    """The chart's selector-less Service gets its one endpoint from the leader, its pod IP; a delivery
    sent to the Service's ClusterIP (the dev cluster's service proxy routes by EndpointSlices, as
    kube-proxy does) reaches the webhook endpoint, which refuses it unsigned (401)."""
    namespace = installed_with_webhook
    leader = wait_for("an operator pod to lead", lambda: leader_pod(kubectl, namespace), timeout=120)
    leader_ip = kubectl.get("pod", leader, namespace)["status"]["podIP"]
    addresses = wait_for(
        "the webhook Service's EndpointSlice", lambda: webhook_slice_addresses(kubectl, namespace), timeout=60
    )
    assert addresses == [leader_ip]
    service = kubectl.get("service", f"{RELEASE}-registry-webhook", namespace)
    assert "selector" not in service["spec"]
    url = f"http://{service['spec']['clusterIP']}:8082/registry/mlflow"

    def delivered() -> httpx.Response | None:
        try:
            return httpx.post(url, content=b"{}", timeout=5)
        except httpx.TransportError:  # the service proxy may not have synced the slice yet
            return None

    answer = wait_for("an answer through the Service", delivered, timeout=30)
    assert answer.status_code == 401, answer.text
    for path, text in operator_logs(cluster, namespace).items():  # the chart's RBAC granted the slice
        assert "forbidden" not in text, (path, text[-2000:])
