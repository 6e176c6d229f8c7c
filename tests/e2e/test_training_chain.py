"""The first half of the loop, end to end: TrainingJobs run the example trainer (real scikit-learn training on
the bundled breast-cancer data through `ferryman.train`) as Job pods, log to a real `mlflow server`, are
judged by the operator, and move the alias a ModelDeployment follows; the new version reaches users
through a canary behind Traefik, judged with Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner
from sklearn.datasets import load_breast_cancer

from ferryman.api import training_contract as contract
from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import breast_cancer_bodies, steady_load
from ferryman_testing.manifests import EXAMPLE_TRAINER, model_deployment, training_job
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.operator import ferryman, running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.registry import Registry
from ferryman_testing.traefik import Gateway

# Four training runs and a canary rollout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REGISTERED = "breast-cancer"  # also the model name clients call: the registered model's
DEPLOYMENT = "tumours"
ALIAS = "production"
TRAINING_TIMEOUT = 300.0


@pytest.fixture
def mlflow(cluster: DevCluster, tmp_path: Path) -> Iterator[MlflowServer]:
    """On the cluster's host address: trainer pods log to it and serving pods download from it."""
    with MlflowServer(tmp_path, host=cluster.host_address) as server:
        yield server


@pytest.fixture
def operator(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer, mlflow: MlflowServer
) -> Iterator[KopfRunner]:
    install_crds(kubectl, *FERRYMAN_CRDS)
    settings = {"FERRYMAN_MLFLOW_TRACKING_URI": mlflow.url, "FERRYMAN_REGISTRY_POLL_SECONDS": "3"}
    with running_operator(Path(cluster.kubeconfig), namespace, prometheus.url, settings) as runner:
        yield runner
        # While the operator still runs, so that its finalizers are released.
        for plural in ("modeldeployments", "trainingjobs"):
            kubectl.run("delete", plural, "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def tumour_training(
    name: str, namespace: str, mlflow_url: str, *, params: dict[str, str] | None = None,
    data_uri: str = "sklearn://breast_cancer", approval: str = "auto",
) -> dict[str, Any]:  # fmt: skip
    """The example trainer with the gates a user of it would set."""
    return training_job(
        name, namespace, mlflow_url,
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
    )  # fmt: skip


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


def md_status(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return dict(kubectl.get("modeldeployment", DEPLOYMENT, namespace).get("status") or {})


def wait_for_md(
    kubectl: Kubectl, namespace: str, what: str, check: Any, timeout: float = 180
) -> dict[str, Any]:
    def reached() -> dict[str, Any]:
        status = md_status(kubectl, namespace)
        if not check(status):
            raise NotYet(
                {key: status.get(key) for key in ("phase", "stableVersion", "canaryVersion", "message")}
            )
        return status

    return wait_for(what, reached, timeout=timeout)


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


def test_train_gate_register_alias_canary_promote(
    kubectl: Kubectl, namespace: str, gateway: Gateway, mlflow: MlflowServer, operator: KopfRunner,
    cluster: DevCluster, tmp_path: Path,
) -> None:  # fmt: skip
    registry = Registry(mlflow.url)

    # 1. The first TrainingJob trains, passes every gate (no champion yet) and moves production to v1.
    kubectl.apply([tumour_training("first", namespace, mlflow.url)])
    first = wait_for_tj(kubectl, namespace, "first", "Succeeded", "Rejected", "Failed")
    assert first["phase"] == "Succeeded", first.get("message")
    v1 = first["modelVersion"]
    gates = gates_of(first)
    assert gates["champion:accuracy"]["message"] == "no champion to beat"
    assert gates["metric:accuracy"]["passed"] and gates["metric:accuracy"]["value"] >= 0.9
    assert gates["data:rows"]["value"] == 569.0 and gates["serving:valid"]["passed"]
    assert first["metrics"][contract.SERVING_P99_MS] > 0
    assert registry.alias_version(REGISTERED, ALIAS) == v1

    # 2. A ModelDeployment following the alias serves v1 through the Gateway.
    canary = {"steps": [{"weight": 25}, {"weight": 50}], "interval": "3s",
              "analysis": {"minRequests": 10, "failureLimit": 2, "maxLatencyP99": "100ms"}}  # fmt: skip
    manifest = model_deployment(
        DEPLOYMENT, namespace, f"models:/{REGISTERED}@{ALIAS}", strategy={"canary": canary},
        parent_ref=gateway.parent_ref, hostname=host_of(namespace)["Host"],
    )  # fmt: skip
    kubectl.apply([manifest])
    wait_for_md(kubectl, namespace, "v1 stable", lambda s: s.get("stableVersion") == v1 and s.get("phase"))
    wait_for("v1 answering through the Gateway", lambda: served_version(gateway, namespace) == v1, timeout=60)

    # 3. A worse model is Rejected with the numbers; bad data stops its run before training, at once.
    frame = load_breast_cancer(as_frame=True).frame
    frame.loc[frame.index[:30], "mean radius"] = None
    bad_csv = tmp_path / "tumours-with-gaps.csv"
    frame.to_csv(bad_csv, index=False)
    kubectl.apply([
        tumour_training("worse", namespace, mlflow.url, params={"C": "0.00001"}),
        tumour_training("gaps", namespace, mlflow.url, data_uri=f"file://{bad_csv}"),
    ])  # fmt: skip
    worse = wait_for_tj(kubectl, namespace, "worse", "Succeeded", "Rejected", "Failed")
    assert worse["phase"] == "Rejected", worse.get("message")
    champion_gate = gates_of(worse)["champion:accuracy"]
    assert champion_gate["passed"] is False and "does not beat champion" in champion_gate["message"]
    assert champion_gate["value"] < worse["metrics"]["champion.accuracy"]
    record = json.loads(registry.tags(REGISTERED, worse["modelVersion"])[contract.VERSION_TAG_REJECTED])
    assert record["trainingJob"] == f"{namespace}/worse" and "does not beat champion" in record["reason"]
    gaps = wait_for_tj(kubectl, namespace, "gaps", "Succeeded", "Rejected", "Failed")
    assert gaps["phase"] == "Failed", gaps.get("message")
    assert "training stopped before it began, on its data" in gaps["message"]
    assert gates_of(gaps)["data:radius-complete"]["value"] == pytest.approx(30 / 569, abs=1e-6)
    pods = kubectl.get_json("pods", "-n", namespace, "-l", "job-name=gaps-train")["items"]
    assert len(pods) == 1, "bad data is not retried"
    assert registry.alias_version(REGISTERED, ALIAS) == v1, "neither moved the alias"
    assert md_status(kubectl, namespace)["stableVersion"] == v1 and not md_status(kubectl, namespace).get(
        "canaryVersion"
    )

    # 4. A retrain with manual approval waits; `ferryman approve` moves the alias; the ModelDeployment
    #    canaries the new version under load and promotes it with no failed request.
    kubectl.apply([tumour_training("reviewed", namespace, mlflow.url, approval="manual")])
    reviewed = wait_for_tj(
        kubectl, namespace, "reviewed", "AwaitingApproval", "Succeeded", "Rejected", "Failed"
    )
    assert reviewed["phase"] == "AwaitingApproval", reviewed.get("message")
    v_new = reviewed["modelVersion"]
    assert registry.alias_version(REGISTERED, ALIAS) == v1
    with steady_load(
        gateway.base_url, REGISTERED, rate=20, headers=host_of(namespace), bodies=breast_cancer_bodies()
    ) as load:
        ferryman("approve", "tj", "reviewed", "-n", namespace, kubeconfig=Path(cluster.kubeconfig))
        assert (
            wait_for_tj(kubectl, namespace, "reviewed", "Succeeded", "Rejected", "Failed")["phase"]
            == "Succeeded"
        )
        assert registry.alias_version(REGISTERED, ALIAS) == v_new
        wait_for_md(
            kubectl, namespace, f"a canary of v{v_new}", lambda s: s.get("canaryVersion") == v_new, 60
        )
        final = wait_for_md(kubectl, namespace, f"the rollout of v{v_new} ended", rollout_ended(v_new))
        report = load.stop()
    assert final["phase"] == "Succeeded" and final["stableVersion"] == v_new, final.get("message")
    assert report.errors == 0, report
    assert report.versions[v_new] > 0 and report.versions[v1] > 0, report
    assert served_version(gateway, namespace) == v_new
