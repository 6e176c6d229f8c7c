"""What the service proxy programs, computed from Services and EndpointSlices (pure: no I/O).

A frontend is one (ClusterIP, protocol, port) of a Service; its backends are the ready endpoints of
the Service's EndpointSlices, with the port that has the same name. Like kube-proxy: ready endpoints
first, else serving-and-terminating ones; no backend means no DNAT rule, so the reject rule answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TABLE = "ferryman-services"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROTOCOLS = {"TCP": "tcp", "UDP": "udp"}  # what the rules can match (SCTP is not supported)
Obj = Mapping[str, Any]


@dataclass(frozen=True, order=True)
class Backend:
    ip: str
    port: int


@dataclass(frozen=True)
class Frontend:
    """One Service port at its ClusterIP, and where its connections go."""

    service: str  # namespace/name, for the rule comment
    cluster_ip: str
    protocol: str  # "tcp" or "udp"
    port: int
    backends: tuple[Backend, ...]


def cluster_ip(service: Obj) -> str | None:
    """The IPv4 ClusterIP of a Service, None for headless and ExternalName Services."""
    spec = service.get("spec") or {}
    ip = spec.get("clusterIP")
    if spec.get("type") == "ExternalName" or not ip or ip == "None" or ":" in ip:
        return None
    return str(ip)


def frontends(services: Iterable[Obj], slices: Iterable[Obj]) -> list[Frontend]:
    """Every supported Service port with its backends, sorted so equal inputs give equal rules."""
    slices_by_service: dict[str, list[Obj]] = {}
    for eps in slices:
        meta = eps.get("metadata") or {}
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name and eps.get("addressType") == "IPv4":
            slices_by_service.setdefault(f"{meta.get('namespace')}/{name}", []).append(eps)
    result = []
    for service in services:
        ip = cluster_ip(service)
        if ip is None:
            continue
        key = f"{service['metadata']['namespace']}/{service['metadata']['name']}"
        for port in service["spec"].get("ports") or []:
            protocol = PROTOCOLS.get(port.get("protocol") or "TCP")
            if protocol is None:
                continue
            name = port.get("name") or ""
            backends = _backends(slices_by_service.get(key, []), name, port.get("protocol") or "TCP")
            result.append(Frontend(key, ip, protocol, int(port["port"]), backends))
    return sorted(result, key=lambda f: (f.cluster_ip, f.protocol, f.port))


def _backends(slices: list[Obj], port_name: str, protocol: str) -> tuple[Backend, ...]:
    ready: set[Backend] = set()
    fallback: set[Backend] = set()  # serving but terminating: used only when nothing is ready
    for eps in slices:
        number = _slice_port(eps, port_name, protocol)
        if number is None:
            continue
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            # The API says an unset `ready` means ready; `serving` defaults to `ready`.
            is_ready = conditions.get("ready") is not False
            is_serving = conditions.get("serving", is_ready) is not False
            for address in endpoint.get("addresses") or []:
                if is_ready and not conditions.get("terminating"):
                    ready.add(Backend(address, number))
                elif is_serving:
                    fallback.add(Backend(address, number))
    return tuple(sorted(ready or fallback))


def _slice_port(eps: Obj, port_name: str, protocol: str) -> int | None:
    for port in eps.get("ports") or []:
        same_name = (port.get("name") or "") == port_name
        if same_name and (port.get("protocol") or "TCP") == protocol and port.get("port"):
            return int(port["port"])
    return None


def nft_script(fronts: Iterable[Frontend], service_cidr: str) -> str:
    """An `nft -f` script that replaces our table in one transaction (first line: create if absent).

    nat/output DNATs a connection to a ClusterIP port to one backend, chosen at random. filter/output
    runs after it and rejects whatever still goes to the Service CIDR (no backend, unknown port), so
    such a connection fails at once, as with kube-proxy, instead of waiting for a timeout.
    """
    dnat = [_dnat_rule(f) for f in fronts if f.backends]
    lines = [
        f"table ip {TABLE}",
        f"delete table ip {TABLE}",
        f"table ip {TABLE} {{",
        "  chain nat-output {",
        "    type nat hook output priority -100; policy accept;",
        *(f"    {rule}" for rule in dnat),
        "  }",
        "  chain filter-output {",
        "    type filter hook output priority 0; policy accept;",
        f"    ip daddr {service_cidr} meta l4proto tcp reject with tcp reset",
        f"    ip daddr {service_cidr} reject",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _dnat_rule(front: Frontend) -> str:
    match = f"ip daddr {front.cluster_ip} {front.protocol} dport {front.port}"
    comment = f'comment "{front.service}:{front.port}/{front.protocol}"'
    if len(front.backends) == 1:
        only = front.backends[0]
        return f"{match} dnat to {only.ip}:{only.port} {comment}"
    choices = ", ".join(f"{i} : {b.ip} . {b.port}" for i, b in enumerate(front.backends))
    return f"{match} dnat to numgen random mod {len(front.backends)} map {{ {choices} }} {comment}"


def routed_ips(fronts: Iterable[Frontend]) -> set[str]:
    """ClusterIPs that get a /32 route; every other Service IP stays unreachable."""
    return {f.cluster_ip for f in fronts}
