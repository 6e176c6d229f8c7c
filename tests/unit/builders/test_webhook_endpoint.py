"""The registry webhook Service's EndpointSlice: the leader's pod IP, owned by the Service."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.builders.webhook_endpoint import build_webhook_endpoint_slice, webhook_slice_name

pytestmark = pytest.mark.unit

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "ferryman-registry-webhook", "namespace": "ferryman-system", "uid": "u-1"},
}


def test_the_slice_points_the_service_at_this_pod() -> None:
    built = build_webhook_endpoint_slice(SERVICE, "10.1.2.3", 8082)
    assert built["metadata"]["name"] == "ferryman-registry-webhook-leader"
    assert built["metadata"]["namespace"] == "ferryman-system"
    # kube-proxy joins a slice to its Service by this label, and the Service port by the port's name.
    assert built["metadata"]["labels"]["kubernetes.io/service-name"] == "ferryman-registry-webhook"
    assert built["ports"] == [{"name": "webhook", "port": 8082, "protocol": "TCP"}]
    assert built["addressType"] == "IPv4"
    assert built["endpoints"] == [{"addresses": ["10.1.2.3"], "conditions": {"ready": True}}]


def test_kubernetes_own_slice_controller_leaves_it_alone_and_the_service_owns_it() -> None:
    meta = build_webhook_endpoint_slice(SERVICE, "10.1.2.3", 8082)["metadata"]
    assert meta["labels"]["endpointslice.kubernetes.io/managed-by"] == "ferryman.dev/operator"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "ferryman-registry-webhook",
            "uid": "u-1",
            "controller": True,
        }
    ]


def test_an_ipv6_pod_gets_an_ipv6_slice_in_canonical_form() -> None:
    built = build_webhook_endpoint_slice(SERVICE, "fd00:0:0::1", 8082)
    assert built["addressType"] == "IPv6"
    assert built["endpoints"][0]["addresses"] == ["fd00::1"]


def test_a_long_service_name_still_gives_a_valid_slice_name() -> None:
    name = webhook_slice_name("s" * 253)
    assert len(name) <= 253 and name.endswith("-leader")
