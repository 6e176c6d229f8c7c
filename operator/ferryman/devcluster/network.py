"""Pod networking: one network namespace per kwok node, joined to the root namespace by a veth pair.

Addresses come only from 198.18.0.0/15 (RFC 2544, reserved for network test labs):
- node i link: root side 198.19.0.(2i)/31, namespace side 198.19.0.(2i+1)/31;
- node i pod CIDR: 198.18.i.0/24 (the Node's spec.podCIDR); pod IPs are /32 on the namespace's `lo`;
- host address 198.19.1.1/32 on the root `lo`: one address every pod can reach, for servers that pods
  call (MLflow, artifact servers), because a namespace cannot see the root's 127.0.0.1.
Namespaces route only 198.18.0.0/15 (no default route), so a pod cannot send traffic anywhere else.
- Service ClusterIPs: 198.19.128.0/17, an `unreachable` route in the root namespace and in every node
  namespace, so an unused Service IP fails at once and never leaves the machine; the service proxy
  adds a /32 route (protocol SERVICE_ROUTE_PROTOCOL) per ClusterIP in use, next to its DNAT rules.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
HOST_ADDRESS = "198.19.1.1"
SERVICE_CIDR = "198.19.128.0/17"
# Our /32 ClusterIP routes carry this routing protocol number, so they can be listed and flushed
# without touching anyone else's routes (any number iproute2 does not name would do).
SERVICE_ROUTE_PROTOCOL = "147"


class NetworkError(RuntimeError):
    """An `ip` command failed while wiring the pod network."""


@dataclass(frozen=True)
class NodeNetwork:
    """The addresses and interface names of one node's namespace."""

    cluster: str
    index: int

    @property
    def netns(self) -> str:
        return f"fm-{self.cluster}-n{self.index}"

    @property
    def root_veth(self) -> str:
        # Interface names are limited to 15 characters; the index keeps them unique per node.
        return f"fmveth{self.index}"

    @property
    def root_address(self) -> str:
        """Root side of the veth: what pods on this node use to reach servers in the root namespace."""
        return f"198.19.0.{2 * self.index}"

    @property
    def node_address(self) -> str:
        """Namespace side of the veth: the Node's InternalIP."""
        return f"198.19.0.{2 * self.index + 1}"

    @property
    def pod_cidr(self) -> str:
        return f"198.18.{self.index}.0/24"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _in_ns(netns: str, *args: str) -> None:
    _ip("-n", netns, *args)


def setup_node(node: NodeNetwork) -> None:
    """Create (from scratch) the namespace, veth pair, addresses and routes of one node."""
    teardown_node(node)
    _ip("netns", "add", node.netns)
    _ip("link", "add", node.root_veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    _ip("addr", "add", f"{node.root_address}/31", "dev", node.root_veth)
    _ip("link", "set", node.root_veth, "up")
    _in_ns(node.netns, "link", "set", "lo", "up")
    _in_ns(node.netns, "addr", "add", f"{node.node_address}/31", "dev", "eth0")
    _in_ns(node.netns, "link", "set", "eth0", "up")
    _in_ns(node.netns, "route", "add", str(LAB_RANGE), "via", node.root_address, "dev", "eth0")
    _in_ns(node.netns, "route", "add", "unreachable", SERVICE_CIDR)
    _ip("route", "replace", node.pod_cidr, "via", node.node_address, "dev", node.root_veth)
    # Forward only what arrives from this veth (pod to pod across nodes); the namespaces have no
    # route outside the lab range, so nothing is forwarded towards other networks.
    _sysctl(f"net.ipv4.conf.{node.root_veth}.forwarding", "1")


def teardown_node(node: NodeNetwork) -> None:
    """Remove a node's namespace and veth; safe to call when they do not exist."""
    _ip("route", "del", node.pod_cidr, check=False)
    if node.netns in list_namespaces():
        _ip("netns", "del", node.netns, check=False)
    # Deleting the namespace may leave the root end behind for a moment: delete it explicitly.
    _ip("link", "del", node.root_veth, check=False)


def setup_host_address() -> None:
    if HOST_ADDRESS not in _ip("-brief", "addr", "show", "dev", "lo").stdout:
        _ip("addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")


def teardown_host_address() -> None:
    _ip("addr", "del", f"{HOST_ADDRESS}/32", "dev", "lo", check=False)


def block_service_cidr() -> None:
    """Root namespace: no Service IP may follow the default route off the machine."""
    _ip("route", "replace", "unreachable", SERVICE_CIDR)


def unblock_service_cidr() -> None:
    _ip("route", "flush", "proto", SERVICE_ROUTE_PROTOCOL, check=False)
    _ip("route", "del", "unreachable", SERVICE_CIDR, check=False)


def service_cidr_is_blocked(netns: str | None = None) -> bool:
    prefix = ("-n", netns) if netns else ()
    shown = _ip(*prefix, "route", "show", "type", "unreachable", SERVICE_CIDR, check=False).stdout
    return SERVICE_CIDR in shown


def sync_service_routes(netns: str | None, cluster_ips: set[str], target: tuple[str, ...]) -> None:
    """Make the /32 ClusterIP routes of one namespace exactly `cluster_ips`, each `route ... <target>`."""
    prefix = ("-n", netns) if netns else ()
    shown = _ip(*prefix, "route", "show", "proto", SERVICE_ROUTE_PROTOCOL).stdout
    present = {line.split()[0].removesuffix("/32") for line in shown.splitlines() if line.strip()}
    commands = [f"route del {ip}/32 proto {SERVICE_ROUTE_PROTOCOL}" for ip in sorted(present - cluster_ips)]
    commands += [
        f"route replace {ip}/32 {' '.join(target)} proto {SERVICE_ROUTE_PROTOCOL}"
        for ip in sorted(cluster_ips - present)
    ]
    if not commands:
        return
    result = subprocess.run(
        ["ip", *prefix, "-batch", "-"], input="\n".join(commands) + "\n", capture_output=True, text=True
    )
    if result.returncode != 0:
        raise NetworkError(f"ClusterIP routes in {netns or 'the root namespace'}: {result.stderr.strip()}")


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def other_clusters(cluster: str) -> list[str]:
    """Names of other dev clusters whose node namespaces exist (they would share our addresses)."""
    names = {
        ns[len("fm-") : ns.rindex("-n")] for ns in list_namespaces() if ns.startswith("fm-") and "-n" in ns
    }
    return sorted(name for name in names if name != cluster)


def node_is_wired(node: NodeNetwork) -> bool:
    if node.netns not in list_namespaces():
        return False
    link = _ip("-brief", "addr", "show", "dev", node.root_veth, check=False)
    return link.returncode == 0 and node.root_address in link.stdout and "UP" in link.stdout


def add_pod_address(netns: str, pod_ip: str) -> None:
    result = _ip("-n", netns, "addr", "add", f"{pod_ip}/32", "dev", "lo", check=False)
    already = "File exists" in result.stderr or "already assigned" in result.stderr
    if result.returncode != 0 and not already:
        raise NetworkError(f"cannot add pod address {pod_ip} in {netns}: {result.stderr.strip()}")


def remove_pod_address(netns: str, pod_ip: str) -> None:
    _ip("-n", netns, "addr", "del", f"{pod_ip}/32", "dev", "lo", check=False)


def _sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    with open(path, "w", encoding="ascii") as f:
        f.write(value)
