"""Service ClusterIPs on the dev cluster: they reach their pods, and no Service IP ever leaves the machine.

The dev cluster's service proxy (ferryman.devcluster.proxy) programs DNAT rules and /32 routes in the
root namespace and every node namespace; the rest of the Service CIDR has an `unreachable` route.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferryman_testing import echo_server
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import KubectlError
from ferryman_testing.polling import wait_for

# Pods to Ready (up to two minutes on a busy machine) before the checks.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

SERVICE_CIDR = "198.19.128.0/17"
ECHO_SERVER = Path(echo_server.__file__)
ECHO_PORT = 8080
SERVICE_PORT = 80
LEAK_TABLE = "ferryman-test-leak-check"
# What a probe may meet while the cluster catches up (the proxy syncing, a pod starting): try again.
TRANSIENT = (OSError, http.client.HTTPException, subprocess.CalledProcessError, KubectlError)


def apply(cluster: DevCluster, namespace: str, *manifests: dict[str, Any]) -> None:
    cluster.kubectl.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(list(manifests)))


def echo_deployment(name: str, replicas: int) -> dict[str, Any]:
    """Echo pods that answer with their own pod name (HOSTNAME), so a client sees which pod it reached."""
    container = {
        "name": "echo",
        "image": "echo",  # the pod runner runs `command`; the image is never pulled
        "command": [sys.executable, str(ECHO_SERVER)],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "PORT", "value": str(ECHO_PORT)},
        ],
        "ports": [{"name": "http", "containerPort": ECHO_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": ECHO_PORT}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [container],
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": {"app": name}},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },  # one pod per node: a client reaches a pod on its own node and on another
                },
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
        },
    }


def ready_pods(cluster: DevCluster, namespace: str, app: str) -> dict[str, str]:
    """Name -> node of the app's Ready pods."""
    pods = cluster.kubectl.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
    return {
        p["metadata"]["name"]: p["spec"]["nodeName"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    }


def ready_endpoint_count(cluster: DevCluster, namespace: str, name: str) -> int:
    slices = cluster.kubectl.get_json(
        "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={name}"
    )
    return sum(1 for s in slices["items"] for ep in s.get("endpoints") or [] if ep["conditions"].get("ready"))


def get_body(ip: str, port: int) -> str:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


# Run inside a node's network namespace, as a pod process would: GET the URL n times, print the bodies.
IN_NAMESPACE_CLIENT = """
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
print(json.dumps([urllib.request.urlopen(url, timeout=5).read().decode() for _ in range(n)]))
"""


def bodies_from_namespace(netns: str, ip: str, port: int, n: int) -> list[str]:
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-c",
            IN_NAMESPACE_CLIENT,
            f"http://{ip}:{port}/",
            str(n),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return list(json.loads(out))


def test_a_cluster_ip_reaches_every_ready_pod_from_the_root_and_every_node_namespace(
    cluster: DevCluster, namespace: str
) -> None:
    """Requests to a ClusterIP are spread over the Service's ready pods, from the host and from pods."""
    apply(cluster, namespace, echo_deployment("echo", replicas=2), service("echo"))
    placed = wait_for(
        "two Ready echo pods",
        lambda: len(ready := ready_pods(cluster, namespace, "echo")) == 2 and ready,
        timeout=90,
        tolerate=TRANSIENT,
    )
    assert len(set(placed.values())) == 2  # anti-affinity: one per node
    pods = set(placed)
    wait_for(
        "two endpoints",
        lambda: ready_endpoint_count(cluster, namespace, "echo") == 2,
        timeout=30,
        tolerate=TRANSIENT,
    )
    cluster_ip = cluster.kubectl.get_json("service", "echo", "-n", namespace)["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_CIDR)

    # The proxy syncs within a moment of the EndpointSlice change: wait until both pods answer.
    # Each request picks a pod at random: 40 requests miss one of two pods with probability 2**-39.
    seen_from_root = wait_for(
        "both pods to answer at the ClusterIP from the root namespace",
        lambda: (bodies := {get_body(cluster_ip, SERVICE_PORT) for _ in range(40)}) == pods and bodies,
        timeout=15,
        tolerate=TRANSIENT,
    )
    assert seen_from_root == pods
    # A pod on either node, calling the pod on its own node and the one on the other. The proxy programs the
    # namespaces one after the other: a node namespace may lag the root one by a few milliseconds.
    for node in cluster.nodes.values():
        seen = wait_for(
            f"both pods to answer at the ClusterIP from {node.netns}",
            lambda netns=node.netns: set(bodies_from_namespace(netns, cluster_ip, SERVICE_PORT, 40)) == pods,
            timeout=15,
            tolerate=TRANSIENT,
        )
        assert seen


def test_a_cluster_ip_follows_its_endpoints_and_goes_away_with_its_service(
    cluster: DevCluster, namespace: str
) -> None:
    """No ready pod: the connection is refused at once; Service deleted: its IP is unreachable again."""
    apply(cluster, namespace, echo_deployment("solo", replicas=1), service("solo"))
    wait_for(
        "a ready endpoint",
        lambda: ready_endpoint_count(cluster, namespace, "solo") == 1,
        timeout=90,
        tolerate=TRANSIENT,
    )
    cluster_ip = cluster.kubectl.get_json("service", "solo", "-n", namespace)["spec"]["clusterIP"]
    wait_for(
        "an answer",
        lambda: get_body(cluster_ip, SERVICE_PORT).startswith("solo-"),
        timeout=15,
        tolerate=TRANSIENT,
    )

    cluster.kubectl.run("scale", "deployment", "solo", "-n", namespace, "--replicas=0")
    wait_for(
        "no endpoints",
        lambda: ready_endpoint_count(cluster, namespace, "solo") == 0,
        timeout=60,
        tolerate=TRANSIENT,
    )
    # Until the proxy has seen the EndpointSlice change (~0.1 s), a connection may still be sent to the
    # pod that just stopped (and time out): wait for the refusal, then check that it came at once.
    refused = wait_for(
        "the ClusterIP without ready pods to refuse",
        lambda: (e := connect_error(cluster_ip, SERVICE_PORT)) and e[0] == errno.ECONNREFUSED and e,
        timeout=15,
        tolerate=TRANSIENT,
    )
    assert refused[1] < 1.0

    cluster.kubectl.run("delete", "service", "solo", "-n", namespace)
    unreachable = wait_for(
        "the deleted Service's IP to be unreachable",
        lambda: (e := connect_error(cluster_ip, SERVICE_PORT)) and e[0] == errno.EHOSTUNREACH and e,
        timeout=15,
        tolerate=TRANSIENT,
    )
    assert unreachable[1] < 1.0


def connect_error(ip: str, port: int) -> tuple[int, float] | None:
    """(errno, seconds) of a failed TCP connect; None if it connected."""
    started = time.monotonic()
    try:
        socket.create_connection((ip, port), timeout=2).close()
    except OSError as exc:
        return (exc.errno or 0, time.monotonic() - started)
    return None


def default_interface() -> str:
    route = subprocess.run(
        ["ip", "-j", "route", "show", "default"], capture_output=True, text=True, check=True
    )
    return str(json.loads(route.stdout)[0]["dev"])


@pytest.fixture
def leak_counter() -> Iterator[Any]:
    """An nft counter of packets to the Service CIDR on the default interface; it drops what it counts,
    so this test itself never sends such a packet off the machine, whatever the code under test does."""
    rules = (
        f"table ip {LEAK_TABLE} {{\n  chain postrouting {{\n"
        "    type filter hook postrouting priority 0; policy accept;\n"
        f'    oifname "{default_interface()}" ip daddr {SERVICE_CIDR} counter drop\n  }}\n}}\n'
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)

    def packets() -> int:
        listed = subprocess.run(["nft", "list", "table", "ip", LEAK_TABLE], capture_output=True, text=True)
        match = re.search(r"counter packets (\d+)", listed.stdout)
        assert match, listed.stdout
        return int(match.group(1))

    yield packets
    subprocess.run(["nft", "delete", "table", "ip", LEAK_TABLE], check=False)


def unused_service_ip(cluster: DevCluster) -> str:
    used = {s["spec"].get("clusterIP") for s in cluster.kubectl.get_json("services", "-A")["items"]}
    network = ipaddress.ip_network(SERVICE_CIDR)
    return next(str(ip) for ip in reversed(list(network.hosts())) if str(ip) not in used)


def test_an_unused_service_ip_fails_at_once_and_no_packet_leaves_the_machine(
    cluster: DevCluster, leak_counter: Any
) -> None:
    """The whole Service CIDR is `unreachable` in every namespace: connect fails locally, nothing is sent."""
    unused = unused_service_ip(cluster)
    for netns in [None, *(n.netns for n in cluster.nodes.values())]:
        where = ["-n", netns] if netns else []
        lookup = subprocess.run(["ip", *where, "route", "get", unused], capture_output=True, text=True)
        assert lookup.returncode != 0, f"{netns or 'root'}: {unused} is routed: {lookup.stdout}"
        assert "No route to host" in lookup.stderr
    failures = [connect_error(unused, port) for port in (80, 8080, 443)]
    assert all(f is not None and f[0] == errno.EHOSTUNREACH and f[1] < 0.5 for f in failures), failures
    assert leak_counter() == 0
