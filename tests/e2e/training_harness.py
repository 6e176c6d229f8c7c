"""What the training e2e tests share: the example trainer as a TrainingJob, the ModelDeployment following
its alias, and the operator talking to a real MLflow server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from kopf.testing import KopfRunner

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import breast_cancer_bodies
from ferryman_testing.manifests import EXAMPLE_TRAINER, training_job
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

REGISTERED = "breast-cancer"  # also the model name clients call: the registered model's
DEPLOYMENT = "tumours"
ALIAS = "production"
TRAINING_TIMEOUT = 300.0


@contextmanager
def operator_with_mlflow(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer, mlflow: MlflowServer,
    extra: Mapping[str, str] | None = None,
) -> Iterator[KopfRunner]:  # fmt: skip
    """The operator resolving aliases on `mlflow` (polled every 3 s); `extra` more FERRYMAN_* settings."""
    install_crds(kubectl, *FERRYMAN_CRDS)
    settings = {
        "FERRYMAN_MLFLOW_TRACKING_URI": mlflow.url,
        "FERRYMAN_REGISTRY_POLL_SECONDS": "3",
        **(extra or {}),
    }
    with running_operator(Path(cluster.kubeconfig), namespace, prometheus.url, settings) as runner:
        yield runner
        # While the operator still runs, so that its finalizers are released.
        for plural in ("driftmonitors", "modeldeployments", "trainingjobs"):
            kubectl.run("delete", plural, "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def tumour_training_spec(
    mlflow_url: str, *, params: dict[str, str] | None = None, data_uri: str = "sklearn://breast_cancer",
    approval: str = "auto",
) -> dict[str, Any]:  # fmt: skip
    """The example trainer with the gates a user of it would set."""
    return training_job(
        "unused", "unused", mlflow_url,
        command=EXAMPLE_TRAINER, experiment="tumours", registered_model=REGISTERED,
        data={"uri": data_uri, "version": "sklearn-1"},
        # The same seed gives the same split, so a retrain of the same recipe ties with its champion.
        params={"seed": "7", **(params or {})},
        validation={
            "data": [
                {"name": "rows", "check": "rowCount", "min": 100},
                {"name": "radius-complete", "check": "nullFraction", "column": "mean radius", "max": 0},
            ],
            "metrics": [{"name": "accuracy", "min": 0.9}],
            "mustBeatChampion": {"metric": "accuracy", "minDelta": 0},
        },
        promote={"alias": ALIAS, "approval": approval},
    )["spec"]  # fmt: skip


def tumour_training(name: str, namespace: str, mlflow_url: str, **options: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": tumour_training_spec(mlflow_url, **options),
    }


def tj_status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return dict(kubectl.get("trainingjob", name, namespace).get("status") or {})


def wait_for_tj(kubectl: Kubectl, namespace: str, name: str, *phases: str) -> dict[str, Any]:
    def reached() -> dict[str, Any]:
        status = tj_status(kubectl, namespace, name)
        if status.get("phase") not in phases:
            raise NotYet(status)
        return status

    return wait_for(f"trainingjob {name} in {phases}", reached, timeout=TRAINING_TIMEOUT)


def gates_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {gate["name"]: gate for gate in status.get("gates", [])}


def object_status(kubectl: Kubectl, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return dict(kubectl.get(kind, name, namespace).get("status") or {})


def wait_for_status(
    kubectl: Kubectl, kind: str, name: str, namespace: str, what: str, check: Any,
    shown: tuple[str, ...], timeout: float,
) -> dict[str, Any]:  # fmt: skip
    """The object's status once check(status) holds; a timeout shows the `shown` keys last seen."""

    def reached() -> dict[str, Any]:
        status = object_status(kubectl, kind, name, namespace)
        if not check(status):
            raise NotYet({key: status.get(key) for key in shown})
        return status

    return wait_for(what, reached, timeout=timeout)


def md_status(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return object_status(kubectl, "modeldeployment", DEPLOYMENT, namespace)


def wait_for_md(
    kubectl: Kubectl, namespace: str, what: str, check: Any, timeout: float = 180
) -> dict[str, Any]:
    shown = ("phase", "stableVersion", "canaryVersion", "message")
    return wait_for_status(kubectl, "modeldeployment", DEPLOYMENT, namespace, what, check, shown, timeout)


def rollout_ended(version: str) -> Any:
    def ended(status: dict[str, Any]) -> bool:
        promoted = status.get("phase") == "Succeeded" and status.get("stableVersion") == version
        return promoted or status.get("phase") in ("RolledBack", "Degraded")

    return ended


def host_of(namespace: str) -> dict[str, str]:
    return {"Host": f"{namespace}.tumours.test"}


def served_version(gateway: Gateway, namespace: str) -> str | None:
    with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
        answer = client.post(
            f"/v2/models/{REGISTERED}/infer", json=breast_cancer_bodies()[0], headers=host_of(namespace)
        )
    return str(answer.json()["model_version"]) if answer.status_code == 200 else None
