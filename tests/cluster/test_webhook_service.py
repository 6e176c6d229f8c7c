"""The registry webhook Service reaches the replica that listens: the operator, with the chart's RBAC,
points the Service's EndpointSlice at its pod IP, owned by the Service, and never takes over a slice of
that name it did not make. (Routing by the slice is kube-proxy's part; the dev cluster runs none.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferryman.builders.webhook_endpoint import webhook_slice_name
from ferryman_testing.chart_release import RBAC_RELEASE
from ferryman_testing.kube_cli import Kubectl, KubectlError
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.servers import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

SERVICE = "webhook-test-registry-webhook"
SLICE = webhook_slice_name(SERVICE)
POD_IP = "198.18.0.250"  # the project's test range: never routed here, only written into the slice


@pytest.fixture
def webhook_service(kubectl: Kubectl) -> Iterator[dict[str, Any]]:
    """A Service without a selector in the release namespace, as the chart makes it."""
    kubectl.apply([{
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE, "namespace": RBAC_RELEASE},
        "spec": {"ports": [{"name": "webhook", "port": 8082, "targetPort": 8082, "protocol": "TCP"}]},
    }])  # fmt: skip
    try:
        yield kubectl.get("service", SERVICE, RBAC_RELEASE)
    finally:
        kubectl.delete("service", SERVICE, RBAC_RELEASE, wait=True)
        kubectl.delete("endpointslice", SLICE, RBAC_RELEASE, wait=True)


def webhook_settings(port: int) -> dict[str, str]:
    return {
        # Never asked: no ModelDeployment tracks an alias here; the endpoint listens only with a registry.
        "FERRYMAN_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
        "FERRYMAN_REGISTRY_WEBHOOK_SECRET": "webhook-service-test",
        "FERRYMAN_REGISTRY_WEBHOOK_ADDRESS": f"127.0.0.1:{port}",
        "FERRYMAN_REGISTRY_WEBHOOK_SERVICE": SERVICE,
        "FERRYMAN_POD_IP": POD_IP,
        "FERRYMAN_LEADER_ELECTION_NAMESPACE": RBAC_RELEASE,
    }


def the_slice(kubectl: Kubectl) -> dict[str, Any]:
    try:
        return kubectl.get("endpointslice", SLICE, RBAC_RELEASE)
    except KubectlError as error:
        raise NotYet(str(error)) from None


def test_the_listening_replica_points_the_service_at_itself(
    kubectl: Kubectl, operator_kubeconfig: Path, namespace: str, webhook_service: dict[str, Any]
) -> None:
    port = free_port()
    with running_operator(operator_kubeconfig, namespace, settings=webhook_settings(port)):
        found = wait_for("the webhook Service's EndpointSlice", lambda: the_slice(kubectl))
    assert found["metadata"]["labels"]["kubernetes.io/service-name"] == SERVICE
    assert found["endpoints"][0]["addresses"] == [POD_IP]
    assert found["ports"] == [{"name": "webhook", "port": port, "protocol": "TCP"}]
    [owner] = found["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Service",
        webhook_service["metadata"]["uid"],
        True,
    )
    # The Service owns it: deleting the Service deletes the slice (the garbage collector).
    kubectl.delete("service", SERVICE, RBAC_RELEASE, wait=True)
    wait_for("the slice to go with its Service", lambda: _gone(kubectl), timeout=90)


def _gone(kubectl: Kubectl) -> bool:
    listed = kubectl.get_json("endpointslices", "-n", RBAC_RELEASE, f"--field-selector=metadata.name={SLICE}")
    if listed["items"]:
        raise NotYet("still there")
    return True


def test_a_slice_of_that_name_made_by_someone_else_is_left_alone(
    kubectl: Kubectl,
    operator_kubeconfig: Path,
    namespace: str,
    webhook_service: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    theirs = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": SLICE, "namespace": RBAC_RELEASE,
                     "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["198.18.0.9"]}],
        "ports": [{"name": "webhook", "port": 8082, "protocol": "TCP"}],
    }  # fmt: skip
    kubectl.apply([theirs], field_manager="someone-else")
    caplog.set_level(logging.ERROR, logger="ferryman.registry")
    with running_operator(operator_kubeconfig, namespace, settings=webhook_settings(free_port())):
        refused = wait_for("the refusal in the log", lambda: _refusal(caplog))
    assert f"EndpointSlice {RBAC_RELEASE}/{SLICE} already exists" in refused
    assert the_slice(kubectl)["endpoints"][0]["addresses"] == ["198.18.0.9"]


def _refusal(caplog: pytest.LogCaptureFixture) -> str:
    for record in caplog.records:
        if "not pointed at this replica" in record.getMessage():
            return record.getMessage()
    raise NotYet([r.getMessage() for r in caplog.records][-3:])
