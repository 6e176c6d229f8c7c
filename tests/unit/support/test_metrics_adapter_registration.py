"""The manifests that register the e2e tier's prometheus-adapter with the API server's aggregation layer."""

from __future__ import annotations

import base64

import pytest

from ferryman.api import ModelDeployment
from ferryman_testing.manifests import model_deployment
from ferryman_testing.metrics_adapter import GROUP, NAMESPACE, SERVICE, registration

pytestmark = pytest.mark.unit


def test_the_aggregator_is_pointed_at_the_adapter_on_the_host_address() -> None:
    """The EndpointSlice names the host address and port under the Service's port name (the aggregator's
    availability check matches by name); both APIServices trust the serving certificate."""
    namespace, service, endpoints, *api_services = registration("198.19.1.1", 40443, b"PEM")
    assert namespace["metadata"]["name"] == NAMESPACE
    (port,) = service["spec"]["ports"]
    assert endpoints["metadata"]["labels"] == {"kubernetes.io/service-name": SERVICE}
    assert endpoints["endpoints"][0]["addresses"] == ["198.19.1.1"]
    assert endpoints["ports"] == [{"name": port["name"], "port": 40443, "protocol": "TCP"}]
    assert [a["spec"]["version"] for a in api_services] == ["v1beta1", "v1beta2"]
    for api_service in api_services:
        assert api_service["spec"]["group"] == GROUP
        assert api_service["spec"]["service"] == {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "port": port["port"],
        }
        assert base64.b64decode(api_service["spec"]["caBundle"]) == b"PEM"


def test_an_autoscaled_model_deployment_carries_no_replicas() -> None:
    """The test manifests leave replicas out for autoscaling (the API refuses both together)."""
    manifest = model_deployment(
        "fraud", "ns", "file:///m.onnx", replicas=None, serving={"autoscaling": {"maxReplicas": 4}}
    )
    assert "replicas" not in manifest["spec"]["serving"]
    ModelDeployment.model_validate(manifest)
