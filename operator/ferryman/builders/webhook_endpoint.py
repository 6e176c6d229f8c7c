"""The EndpointSlice that sends the registry webhook Service's deliveries to the replica that listens.

Only the leader opens the webhook port (a standby handles nothing), so a Service selecting every
operator pod would hand some deliveries to a standby that refuses them; a readiness probe true on the
leader only would stall every rolling update of the operator (a new pod waits as a standby, never
ready). Instead the Service has no selector and the leader, when it starts listening, points the
Service's one EndpointSlice at its own pod IP; the next leader points it at itself.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ferryman.builders.naming import LABEL_MANAGED_BY, MANAGED_BY, bounded_name

WEBHOOK_PORT_NAME = "webhook"
"""The Service's port name: an EndpointSlice port is matched to the Service port of the same name."""
SLICE_CONTROLLER = "operator.ferryman.dev"
"""endpointslice.kubernetes.io/managed-by: Kubernetes' own EndpointSlice controller leaves the slice alone."""
MAX_NAME = 253


def webhook_slice_name(service_name: str) -> str:
    return bounded_name(service_name, "-leader", MAX_NAME)


def build_webhook_endpoint_slice(service: dict[str, Any], pod_ip: str, port: int) -> dict[str, Any]:
    """The Service's EndpointSlice with this pod as its one ready endpoint, controlled by the Service
    (deleting the Service deletes it)."""
    meta = service["metadata"]
    address = ipaddress.ip_address(pod_ip)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": webhook_slice_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {
                "kubernetes.io/service-name": meta["name"],
                "endpointslice.kubernetes.io/managed-by": SLICE_CONTROLLER,
                LABEL_MANAGED_BY: MANAGED_BY,
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "addressType": "IPv6" if address.version == 6 else "IPv4",
        "endpoints": [{"addresses": [str(address)], "conditions": {"ready": True}}],
        "ports": [{"name": WEBHOOK_PORT_NAME, "port": port, "protocol": "TCP"}],
    }


def points_as_wanted(found: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether the slice found already has the wanted address, port and owner (then nothing is written)."""
    if found is None:
        return False
    same_owner = found["metadata"].get("ownerReferences") == wanted["metadata"]["ownerReferences"]
    return same_owner and all(
        found.get(field) == wanted[field] for field in ("addressType", "endpoints", "ports")
    )
