"""Walk through Ferryman on the local cluster: serve a model, canary a new version under load, then train
models with TrainingJobs whose gates decide which version a ModelDeployment following an alias serves.

Started by scripts/demo, which installs what it needs. Uses the same harness as the e2e tests: real
kube-apiserver, serving processes in pod network namespaces, Prometheus, and Traefik as the Gateway.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import breast_cancer_bodies, steady_load
from ferryman_testing.manifests import EXAMPLE_TRAINER, model_deployment, training_job
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import operator_process
from ferryman_testing.polling import wait_for
from ferryman_testing.stack import start_stack

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


def show(kubectl: Kubectl, until: str, timeout: float = 240, kind: str = "md", name: str = "fraud") -> None:
    """Print the object's line of `kubectl get` every 3 s until it shows `until`."""

    def reached() -> bool:
        line = kubectl.run("get", kind, name, "-n", NAMESPACE, "--no-headers")
        print("   " + " ".join(line.split()))
        return until in line.split()

    wait_for(f"{kind}/{name} to show {until}", reached, timeout, every=3)


def training(name: str, tracking_uri: str) -> dict[str, object]:
    """examples/train_breast_cancer.py as a TrainingJob: gates on the data, accuracy and the champion."""
    return training_job(
        name, NAMESPACE, tracking_uri, command=EXAMPLE_TRAINER, experiment="tumours",
        registered_model="breast-cancer",
        validation={
            "data": [{"name": "rows", "check": "rowCount", "min": 100}],
            "metrics": [{"name": "accuracy", "min": 0.9}],
            "mustBeatChampion": {"metric": "accuracy", "minDelta": 0},
        },
        promote={"alias": "production"},
        params={"seed": "7"},
    )  # fmt: skip


def train_then_canary(
    kubectl: Kubectl, mlflow: MlflowServer, parent_ref: dict[str, str], base_url: str
) -> None:
    """Steps 6-8: a TrainingJob promotes v1 through the alias, a ModelDeployment follows it, a retrain
    is gated, promoted and canaried."""
    for name in ("tumours", "tumours-retrain"):
        kubectl.delete("trainingjob", name, NAMESPACE, wait=True)
    kubectl.delete("modeldeployment", "tumours", NAMESPACE, wait=True)
    print("6. a TrainingJob trains on scikit-learn's breast-cancer data, passes its gates, moves production")
    kubectl.apply([training("tumours", mlflow.url)])
    show(kubectl, "Succeeded", kind="tj", name="tumours")
    print("7. a ModelDeployment following models:/breast-cancer@production serves that version")
    following = model_deployment(
        "tumours", NAMESPACE, "models:/breast-cancer@production", strategy={"canary": CANARY},
        parent_ref=parent_ref, hostname="tumours.demo.test",
    )  # fmt: skip
    kubectl.apply([following])
    show(kubectl, "Succeeded", name="tumours")
    host = {"Host": "tumours.demo.test"}
    with steady_load(base_url, "breast-cancer", rate=20, headers=host, bodies=breast_cancer_bodies()) as load:
        print(
            "8. under load, a retrain must beat (or tie) the champion; it does: production moves, it canaries"
        )
        kubectl.apply([training("tumours-retrain", mlflow.url)])
        show(kubectl, "Succeeded", kind="tj", name="tumours-retrain")
        wait_for(
            "the rollout of the retrained version", lambda: canary_started(kubectl, "tumours"), timeout=60
        )
        show(kubectl, "Succeeded", name="tumours")
        report = load.stop()
    print(f"   requests: {dict(report.codes)}  answered by version: {dict(report.versions)}")


def canary_started(kubectl: Kubectl, name: str) -> bool:
    status = kubectl.get("modeldeployment", name, NAMESPACE).get("status") or {}
    return bool(status.get("canaryVersion")) or status.get("stableVersion") not in (None, "1")


def taken_up(kubectl: Kubectl, uri: str) -> bool:
    """The operator has started the rollout of uri (or already finished it)."""
    status = kubectl.get("modeldeployment", "fraud", NAMESPACE).get("status") or {}
    return uri in (status.get("canaryUri"), status.get("stableUri"))


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-demo-"))
    print("1. local cluster (kube-apiserver, etcd, controller-manager, scheduler, kwok nodes)")
    print("2. Prometheus and Traefik (Gateway API) on loopback")  # started together: start_stack
    stack = start_stack(workdir, NAMESPACE)
    cluster, kubectl, prometheus, gateway = stack.cluster, stack.kubectl, stack.prometheus, stack.gateway
    print("3. two versions of a GradientBoosting model (scikit-learn -> ONNX)")
    v1 = make_gradient_boosting_model(workdir / "v1", trees=20).model_path.as_uri()
    v2 = make_gradient_boosting_model(workdir / "v2", trees=30).model_path.as_uri()
    (workdir / "mlflow").mkdir()
    mlflow = MlflowServer(workdir / "mlflow", host=cluster.host_address)  # pods reach it there
    mlflow.start()
    settings = {"FERRYMAN_MLFLOW_TRACKING_URI": mlflow.url, "FERRYMAN_REGISTRY_POLL_SECONDS": "5"}
    try:
        with operator_process(
            cluster.kubeconfig,
            prometheus.url,
            workdir / "operator.log",
            namespace=NAMESPACE,
            settings=settings,
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
            train_then_canary(kubectl, mlflow, gateway.parent_ref, gateway.base_url)
    finally:
        mlflow.stop()
        stack.close()
    print(
        f"The cluster stays up: export KUBECONFIG={cluster.kubeconfig}  (scripts/dev-cluster down removes it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
