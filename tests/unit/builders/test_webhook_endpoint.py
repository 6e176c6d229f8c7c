"""The registry webhook Service's EndpointSlice: the leader's pod IP, owned by the Service."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ferryman.builders.webhook_endpoint import (
    build_webhook_endpoint_slice,
    points_as_wanted,
    webhook_slice_name,
)

pytestmark = pytest.mark.unit

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "ferryman-registry-webhook", "namespace": "ferryman-system", "uid": "u-1"},
}


def test_the_slice_points_the_service_at_this_pod() -> None:
    built = build_webhook_endpoint_slice(SERVICE, "198.18.1.3", 8082)
    assert built["metadata"]["name"] == "ferryman-registry-webhook-leader"
    assert built["metadata"]["namespace"] == "ferryman-system"
    # kube-proxy joins a slice to its Service by this label, and the Service port by the port's name.
    assert built["metadata"]["labels"]["kubernetes.io/service-name"] == "ferryman-registry-webhook"
    assert built["ports"] == [{"name": "webhook", "port": 8082, "protocol": "TCP"}]
    assert built["addressType"] == "IPv4"
    assert built["endpoints"] == [{"addresses": ["198.18.1.3"], "conditions": {"ready": True}}]


def test_kubernetes_own_slice_controller_leaves_it_alone_and_the_service_owns_it() -> None:
    meta = build_webhook_endpoint_slice(SERVICE, "198.18.1.3", 8082)["metadata"]
    assert meta["labels"]["endpointslice.kubernetes.io/managed-by"] == "operator.ferryman.dev"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "ferryman-registry-webhook",
            "uid": "u-1",
            "controller": True,
        }
    ]


# Kubernetes' label value syntax (apimachinery validation.IsValidLabelValue): the API server refuses others.
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def test_every_label_value_is_one_the_api_server_accepts() -> None:
    labels = build_webhook_endpoint_slice(SERVICE, "198.18.1.3", 8082)["metadata"]["labels"]
    assert all(len(v) <= 63 and LABEL_VALUE.fullmatch(v) for v in labels.values()), labels


def test_an_ipv6_pod_gets_an_ipv6_slice_in_canonical_form() -> None:
    built = build_webhook_endpoint_slice(SERVICE, "fd00:0:0::1", 8082)
    assert built["addressType"] == "IPv6"
    assert built["endpoints"][0]["addresses"] == ["fd00::1"]


def test_a_long_service_name_still_gives_a_valid_slice_name() -> None:
    name = webhook_slice_name("s" * 253)
    assert len(name) <= 253 and name.endswith("-leader")


def test_a_slice_already_pointing_here_is_left_as_it_is_and_any_difference_is_written() -> None:
    wanted = build_webhook_endpoint_slice(SERVICE, "198.18.1.3", 8082)
    as_read = {**wanted, "metadata": {**wanted["metadata"], "resourceVersion": "7", "uid": "s-1"}}
    assert points_as_wanted(as_read, wanted)
    assert not points_as_wanted(None, wanted)
    assert not points_as_wanted(
        build_webhook_endpoint_slice(SERVICE, "198.18.1.4", 8082), wanted
    )  # a new leader
    assert not points_as_wanted(build_webhook_endpoint_slice(SERVICE, "198.18.1.3", 9000), wanted)
    recreated = {**SERVICE, "metadata": {**SERVICE["metadata"], "uid": "u-2"}}
    assert not points_as_wanted(build_webhook_endpoint_slice(recreated, "198.18.1.3", 8082), wanted)
