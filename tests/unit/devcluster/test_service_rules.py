"""The dev cluster's service proxy: which backends each ClusterIP port gets, and the nft rules for them."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.devcluster.proxy.rules import Backend, Frontend, frontends, nft_script, routed_ips

pytestmark = pytest.mark.unit

CIDR = "198.19.128.0/17"


def service(name: str, ip: str | None, *ports: dict[str, Any], kind: str = "ClusterIP") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "ports": list(ports)}
    if ip is not None:
        spec["clusterIP"] = ip
    return {"metadata": {"namespace": "ns", "name": name}, "spec": spec}


def endpoint(ip: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions}


def endpoint_slice(svc: str, ports: list[dict[str, Any]], *endpoints: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": f"{svc}-x", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": list(endpoints),
    }


HTTP = {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
HTTP_SLICE_PORT = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_a_service_port_goes_to_the_ready_endpoints_on_the_slice_port_of_the_same_name() -> None:
    metrics = {"name": "metrics", "port": 9100, "protocol": "TCP"}
    slice_ports = [*HTTP_SLICE_PORT, {"name": "metrics", "port": 9090, "protocol": "TCP"}]
    fronts = frontends(
        [service("web", "198.19.130.5", HTTP, metrics)],
        [
            endpoint_slice(
                "web",
                slice_ports,
                endpoint("198.18.1.3", ready=True),
                endpoint("198.18.0.2"),  # unset `ready` means ready
                endpoint("198.18.0.9", ready=False),
            )
        ],
    )
    ready = (Backend("198.18.0.2", 8080), Backend("198.18.1.3", 8080))
    assert fronts == [
        Frontend("ns/web", "198.19.130.5", "tcp", 80, ready),
        Frontend("ns/web", "198.19.130.5", "tcp", 9100, tuple(Backend(b.ip, 9090) for b in ready)),
    ]


def test_terminating_but_serving_endpoints_are_used_only_when_nothing_is_ready() -> None:
    draining = endpoint("198.18.0.4", ready=False, serving=True, terminating=True)
    alone = frontends(
        [service("web", "198.19.130.5", HTTP)], [endpoint_slice("web", HTTP_SLICE_PORT, draining)]
    )
    assert alone[0].backends == (Backend("198.18.0.4", 8080),)
    with_ready = frontends(
        [service("web", "198.19.130.5", HTTP)],
        [endpoint_slice("web", HTTP_SLICE_PORT, draining, endpoint("198.18.0.5", ready=True))],
    )
    assert with_ready[0].backends == (Backend("198.18.0.5", 8080),)


def test_headless_external_name_and_sctp_ports_get_no_frontend() -> None:
    sctp = {"name": "s", "port": 7, "protocol": "SCTP"}
    fronts = frontends(
        [
            service("headless", "None", HTTP),
            service("external", None, HTTP, kind="ExternalName"),
            service("sctp", "198.19.130.9", sctp),
        ],
        [],
    )
    assert fronts == []


def test_a_service_without_endpoints_is_routed_but_gets_no_dnat_rule() -> None:
    fronts = frontends([service("empty", "198.19.130.7", HTTP)], [])
    assert routed_ips(fronts) == {"198.19.130.7"}
    script = nft_script(fronts, CIDR)
    assert "dnat" not in script
    assert f"ip daddr {CIDR} meta l4proto tcp reject with tcp reset" in script


def test_the_script_replaces_the_table_and_spreads_connections_over_every_backend() -> None:
    two = (Backend("198.18.0.2", 8080), Backend("198.18.1.3", 8080))
    one = (Backend("198.18.0.2", 53),)
    script = nft_script(
        [
            Frontend("ns/web", "198.19.130.5", "tcp", 80, two),
            Frontend("ns/dns", "198.19.130.6", "udp", 53, one),
        ],
        CIDR,
    )
    lines = script.splitlines()
    # create-if-absent, delete, recreate: one transaction, so no stale rule survives a sync
    assert lines[:3] == [
        "table ip ferryman-services",
        "delete table ip ferryman-services",
        "table ip ferryman-services {",
    ]
    assert (
        "ip daddr 198.19.130.5 tcp dport 80 dnat to numgen random mod 2 map "
        '{ 0 : 198.18.0.2 . 8080, 1 : 198.18.1.3 . 8080 } comment "ns/web:80/tcp"'
    ) in script
    assert 'ip daddr 198.19.130.6 udp dport 53 dnat to 198.18.0.2:53 comment "ns/dns:53/udp"' in script
    # the DNAT chain runs before the reject chain (nat -100, filter 0)
    assert script.index("priority -100") < script.index("priority 0")
