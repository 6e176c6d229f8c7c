"""Walk through Ferryman on the local cluster: serve a model, then canary a new version under load.

Started by scripts/demo, which installs what it needs. Uses the same harness as the e2e tests: real
kube-apiserver, serving processes in pod network namespaces, Prometheus, and Traefik as the Gateway.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.cluster import start_dev_cluster  # noqa: E402
from tests.support.e2e_tools import install_e2e_tools  # noqa: E402
from tests.support.kube_cli import Kubectl  # noqa: E402
from tests.support.load import steady_load  # noqa: E402
from tests.support.models import make_gradient_boosting_model  # noqa: E402
from tests.support.operator import free_port, install_crds  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402
from tests.support.traefik import start_gateway  # noqa: E402

NAMESPACE = "demo"
HOST = {"Host": "fraud.demo.test"}


def manifest(uri: str, parent_ref: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": NAMESPACE},
        "spec": {
            "model": {"uri": uri},
            "serving": {"replicas": 1},
            "traffic": {
                "mode": "gateway",
                "gateway": {"parentRefs": [parent_ref], "hostnames": [HOST["Host"]]},
            },
            "strategy": {
                "canary": {
                    "steps": [{"weight": 10}, {"weight": 50}],
                    "interval": "10s",
                    "analysis": {"minRequests": 20, "maxLatencyP99": "100ms"},
                }
            },
        },
    }


@contextlib.contextmanager
def operator_process(kubeconfig: Path, prometheus_url: str, log: Path) -> Iterator[None]:
    """`ferryman operator`, as a user runs it, watching the demo namespace."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FERRYMAN_NAMESPACES": json.dumps([NAMESPACE]),
        "FERRYMAN_PROMETHEUS_URL": prometheus_url,
        "FERRYMAN_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
    }
    with log.open("wb") as out:
        process = subprocess.Popen([str(Path(sys.executable).parent / "ferryman"), "operator"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    print(f"   operator log: {log}")
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def show(kubectl: Kubectl, until: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = kubectl.run("get", "md", "-n", NAMESPACE)
        print(table.splitlines()[-1])
        if until in table:
            return
        time.sleep(3)
    raise SystemExit(f"gave up waiting for {until}")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-demo-"))
    print("1. local cluster (kube-apiserver, etcd, controller-manager, scheduler, kwok nodes)")
    cluster = start_dev_cluster()
    kubectl = Kubectl(cluster.kubeconfig)
    install_crds(kubectl)
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
        with operator_process(cluster.kubeconfig, prometheus.url, workdir / "operator.log"):
            kubectl.delete("modeldeployment", "fraud", NAMESPACE, wait=True)  # a rerun starts from scratch
            print("4. kubectl apply: a ModelDeployment serving v1")
            kubectl.apply([manifest(v1, gateway.parent_ref)])
            show(kubectl, "Succeeded")
            with steady_load(gateway.base_url, "fraud", rate=20, headers=HOST) as load:
                print("5. under load, the spec names v2: canary 10% -> 50% -> promoted, judged by Prometheus")
                kubectl.apply([manifest(v2, gateway.parent_ref)])
                time.sleep(3)
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
