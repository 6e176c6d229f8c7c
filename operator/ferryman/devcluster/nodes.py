"""The kwok Nodes: one per network namespace, with its pod CIDR and InternalIP from the lab range."""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from ferryman.devcluster.network import NodeNetwork

NODE_LABEL = "devcluster.ferryman.dev/node"
NETNS_ANNOTATION = "devcluster.ferryman.dev/netns"
ROOT_ADDRESS_ANNOTATION = "devcluster.ferryman.dev/root-address"


def node_name(cluster: str, index: int) -> str:
    return f"{cluster}-node-{index}"


def build_node(name: str, net: NodeNetwork) -> dict[str, Any]:
    """A Node as a kubelet would register it; kwok's node stages keep it Ready."""
    resources = {"cpu": "64", "memory": "256Gi", "pods": "2000", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                NODE_LABEL: "true",
            },
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                NETNS_ANNOTATION: net.netns,
                ROOT_ADDRESS_ANNOTATION: net.root_address,
            },
        },
        "spec": {"podCIDR": net.pod_cidr, "podCIDRs": [net.pod_cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": net.node_address},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources,
            "allocatable": resources,
        },
    }


def ensure_nodes(api: Any, nodes: dict[str, NodeNetwork]) -> None:
    for name, net in nodes.items():
        try:
            api.create_node(build_node(name, net))
        except ApiException as exc:
            if exc.status != 409:
                raise


def wait_nodes_ready(api: Any, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for node in api.list_node(label_selector=f"{NODE_LABEL}=true").items:
            conditions = node.status.conditions or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                pending.discard(node.metadata.name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes not Ready after {timeout:.0f} s: {sorted(pending)}")
        time.sleep(0.5)
