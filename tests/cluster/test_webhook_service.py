"""The registry webhook Service reaches the replica that listens: the operator, with the chart's RBAC,
points the Service's EndpointSlice at its pod IP, owned by the Service, keeps it so (writing nothing
while it is right), and never takes over a slice of that name it did not make. Deliveries through the
Service to a real leader pod: tests/e2e/test_chart_rollout.py."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferryman.builders.webhook_endpoint import (
    build_webhook_endpoint_slice,
    points_as_wanted,
    webhook_slice_name,
)
from ferryman_testing.chart_release import RBAC_RELEASE
from ferryman_testing.kube_cli import Kubectl, KubectlError
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.servers import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

POD_IP = "198.18.0.250"  # the project's test range: written into the slice, never connected to here
CHECK_SECONDS = 1  # FERRYMAN_REGISTRY_POLL_SECONDS: how often the operator checks the slice


@dataclass(frozen=True)
class WebhookService:
    name: str
    uid: str

    @property
    def slice(self) -> str:
        return webhook_slice_name(self.name)


@pytest.fixture
def webhook_service(kubectl: Kubectl) -> Iterator[WebhookService]:
    """A Service without a selector in the release namespace, as the chart makes it (a name per test)."""
    name = f"webhook-{uuid.uuid4().hex[:8]}"
    kubectl.apply([{
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": RBAC_RELEASE},
        "spec": {"ports": [{"name": "webhook", "port": 8082, "targetPort": 8082, "protocol": "TCP"}]},
    }])  # fmt: skip
    service = WebhookService(name, kubectl.get("service", name, RBAC_RELEASE)["metadata"]["uid"])
    try:
        yield service
    finally:
        kubectl.delete("service", name, RBAC_RELEASE, wait=True)
        kubectl.delete("endpointslice", service.slice, RBAC_RELEASE, wait=True)


def webhook_settings(service: WebhookService, port: int) -> dict[str, str]:
    return {
        # Never asked: no ModelDeployment tracks an alias here; the endpoint listens only with a registry.
        "FERRYMAN_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
        "FERRYMAN_REGISTRY_POLL_SECONDS": str(CHECK_SECONDS),
        "FERRYMAN_REGISTRY_WEBHOOK_SECRET": "webhook-service-test",
        "FERRYMAN_REGISTRY_WEBHOOK_ADDRESS": f"127.0.0.1:{port}",
        "FERRYMAN_REGISTRY_WEBHOOK_SERVICE": service.name,
        "FERRYMAN_POD_IP": POD_IP,
        "FERRYMAN_LEADER_ELECTION_NAMESPACE": RBAC_RELEASE,
    }


def the_slice(kubectl: Kubectl, service: WebhookService) -> dict[str, Any]:
    try:
        return kubectl.get("endpointslice", service.slice, RBAC_RELEASE)
    except KubectlError as error:
        raise NotYet(str(error)) from None


def test_the_listening_replica_points_the_service_at_itself_and_keeps_it_so(
    kubectl: Kubectl, operator_kubeconfig: Path, namespace: str, webhook_service: WebhookService
) -> None:
    port = free_port()
    settings = webhook_settings(webhook_service, port)
    with running_operator(operator_kubeconfig, namespace, settings=settings):
        found = wait_for("the webhook Service's EndpointSlice", lambda: the_slice(kubectl, webhook_service))
        assert found["metadata"]["labels"]["kubernetes.io/service-name"] == webhook_service.name
        assert found["endpoints"][0]["addresses"] == [POD_IP]
        assert found["ports"] == [{"name": "webhook", "port": port, "protocol": "TCP"}]
        [owner] = found["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("Service", webhook_service.uid, True)
        # As the API server returns it (defaults and all), the slice is recognised as right: the checks
        # that follow write nothing (a no-op apply would not show in resourceVersion, so this is asked).
        service = kubectl.get("service", webhook_service.name, RBAC_RELEASE)
        assert points_as_wanted(found, build_webhook_endpoint_slice(service, POD_IP, port))
        # Gone (a person, or the garbage collector after the Service was created again): written again.
        kubectl.delete("endpointslice", webhook_service.slice, RBAC_RELEASE, wait=True)
        wait_for("the EndpointSlice written again", lambda: the_slice(kubectl, webhook_service), timeout=30)
    # The Service owns it: deleting the Service deletes the slice (the garbage collector).
    kubectl.delete("service", webhook_service.name, RBAC_RELEASE, wait=True)
    wait_for("the slice to go with its Service", lambda: _gone(kubectl, webhook_service), timeout=90)


def _gone(kubectl: Kubectl, service: WebhookService) -> bool:
    named = f"--field-selector=metadata.name={service.slice}"
    if kubectl.get_json("endpointslices", "-n", RBAC_RELEASE, named)["items"]:
        raise NotYet("still there")
    return True


def test_a_slice_of_that_name_made_by_someone_else_is_left_alone(
    kubectl: Kubectl,
    operator_kubeconfig: Path,
    namespace: str,
    webhook_service: WebhookService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    theirs = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": webhook_service.slice, "namespace": RBAC_RELEASE,
                     "labels": {"kubernetes.io/service-name": webhook_service.name}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["198.18.0.9"]}],
        "ports": [{"name": "webhook", "port": 8082, "protocol": "TCP"}],
    }  # fmt: skip
    kubectl.apply([theirs], field_manager="someone-else")
    caplog.set_level(logging.INFO, logger="ferryman.registry")
    settings = webhook_settings(webhook_service, free_port())
    with running_operator(operator_kubeconfig, namespace, settings=settings):
        refusal = wait_for("the refusal in the log", lambda: next(iter(_refusals(caplog)), None))
        time.sleep(4 * CHECK_SECONDS)  # checked again and again: one line, the slice still theirs
        assert _refusals(caplog) == [refusal]
    assert f"EndpointSlice {RBAC_RELEASE}/{webhook_service.slice} already exists" in refusal
    assert the_slice(kubectl, webhook_service)["endpoints"][0]["addresses"] == ["198.18.0.9"]


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "not pointed at this replica" in r.getMessage()]
