"""Walk through Ferryman on the local cluster: serve a model, then canary a new version under load.

Started by scripts/demo, which installs what it needs. Uses the same harness as the e2e tests: real
kube-apiserver, serving processes in pod network namespaces, Prometheus, and Traefik as the Gateway.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import start_dev_cluster
from ferryman_testing.e2e_tools import install_e2e_tools
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import steady_load
from ferryman_testing.manifests import model_deployment
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import operator_process
from ferryman_testing.polling import wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import start_gateway

NAMESPACE = "demo"
HOST = {"Host": "fraud.demo.test"}


CANARY = {
    "steps": [{"weight": 10}, {"weight": 50}],
    "interval": "10s",
    "analysis": {"minRequests": 20, "maxLatencyP99": "100ms"},
}


def manifest(uri: str, parent_ref: dict[str, str]) -> dict[str, object]:
    return model_deployment(
        "fraud", NAMESPACE, uri, strategy={"canary": CANARY}, parent_ref=parent_ref, hostname=HOST["Host"]
    )


def show(kubectl: Kubectl, until: str, timeout: float = 240) -> None:
    """Print the ModelDeployment's line of `kubectl get md` every 3 s until it shows `until`."""

    def reached() -> bool:
        table = kubectl.run("get", "md", "-n", NAMESPACE)
        print(table.splitlines()[-1])
        return until in table

    wait_for(f"the demo's ModelDeployment to show {until}", reached, timeout, every=3)


def taken_up(kubectl: Kubectl, uri: str) -> bool:
    """The operator has started the rollout of uri (or already finished it)."""
    status = kubectl.get("modeldeployment", "fraud", NAMESPACE).get("status") or {}
    return uri in (status.get("canaryUri"), status.get("stableUri"))


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-demo-"))
    print("1. local cluster (kube-apiserver, etcd, controller-manager, scheduler, kwok nodes)")
    cluster = start_dev_cluster()
    kubectl = Kubectl(cluster.kubeconfig)
    install_crds(kubectl, *FERRYMAN_CRDS)
    kubectl.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
    tools = install_e2e_tools()
    print("2. Prometheus and Traefik (Gateway API) on loopback")
    prometheus = PrometheusServer.start(tools.prometheus, cluster.kubeconfig, workdir / "prometheus")
    gateway = start_gateway(
        tools.traefik, kubectl, tools.gateway_api_crds, tools.traefik_crds, workdir / "traefik"
    )
    print("3. two versions of a GradientBoosting model (scikit-learn -> ONNX)")
    v1 = make_gradient_boosting_model(workdir / "v1", trees=20).model_path.as_uri()
    v2 = make_gradient_boosting_model(workdir / "v2", trees=30).model_path.as_uri()
    try:
        with operator_process(
            cluster.kubeconfig, prometheus.url, workdir / "operator.log", namespace=NAMESPACE
        ):
            kubectl.delete("modeldeployment", "fraud", NAMESPACE, wait=True)  # a rerun starts from scratch
            print("4. kubectl apply: a ModelDeployment serving v1")
            kubectl.apply([manifest(v1, gateway.parent_ref)])
            show(kubectl, "Succeeded")
            with steady_load(gateway.base_url, "fraud", rate=20, headers=HOST) as load:
                print("5. under load, the spec names v2: canary 10% -> 50% -> promoted, judged by Prometheus")
                kubectl.apply([manifest(v2, gateway.parent_ref)])
                wait_for("the operator to start the rollout of v2", lambda: taken_up(kubectl, v2), timeout=60)
                show(kubectl, "Succeeded")
                report = load.stop()
            print(f"   requests: {dict(report.codes)}  answered by version: {dict(report.versions)}")
            print(
                kubectl.run(
                    "get",
                    "events",
                    "-n",
                    NAMESPACE,
                    "--field-selector",
                    "involvedObject.kind=ModelDeployment",
                )
            )
    finally:
        gateway.close()
        prometheus.stop()
    print(
        f"The cluster stays up: export KUBECONFIG={cluster.kubeconfig}  (scripts/dev-cluster down removes it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
