"""The real stack the demo and the benches run on: the local cluster with Ferryman's CRDs and a namespace,
Prometheus scraping the pods, and Traefik as the Gateway API data plane (the e2e tier builds the same
from its fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import DevCluster, start_dev_cluster
from ferryman_testing.e2e_tools import E2ETools, install_e2e_tools
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway, start_gateway


@dataclass
class Stack:
    cluster: DevCluster
    kubectl: Kubectl
    tools: E2ETools
    prometheus: PrometheusServer
    gateway: Gateway

    def close(self) -> None:
        """Stops Traefik and Prometheus; the cluster stays up (scripts/dev-cluster down removes it)."""
        self.gateway.close()
        self.prometheus.stop()


def start_stack(workdir: Path, namespace: str) -> Stack:
    cluster = start_dev_cluster()
    kubectl = Kubectl(cluster.kubeconfig)
    install_crds(kubectl, *FERRYMAN_CRDS)
    kubectl.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    tools = install_e2e_tools()
    prometheus = PrometheusServer.start(tools.prometheus, cluster.kubeconfig, workdir / "prometheus")
    try:
        gateway = start_gateway(
            tools.traefik, kubectl, tools.gateway_api_crds, tools.traefik_crds, workdir / "traefik"
        )
    except BaseException:
        prometheus.stop()
        raise
    return Stack(cluster, kubectl, tools, prometheus, gateway)
