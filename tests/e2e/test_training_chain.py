"""The first half of the loop, end to end: TrainingJobs run the example trainer (real scikit-learn training on
the bundled breast-cancer data through `ferryman.train`) as Job pods, log to a real `mlflow server`, are
judged by the operator, and move the alias a ModelDeployment follows; the new version reaches users
through a canary behind Traefik, judged with Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kopf.testing import KopfRunner
from sklearn.datasets import load_breast_cancer
from tests.e2e.training_harness import (
    ALIAS,
    DEPLOYMENT,
    REGISTERED,
    gates_of,
    host_of,
    md_status,
    rollout_ended,
    served_version,
    tumour_training,
    wait_for_md,
    wait_for_tj,
)

from ferryman.api import training_contract as contract
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import breast_cancer_bodies, steady_load
from ferryman_testing.manifests import model_deployment
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.operator import ferryman
from ferryman_testing.polling import wait_for
from ferryman_testing.registry import Registry
from ferryman_testing.traefik import Gateway

# Four training runs and a canary rollout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_train_gate_register_alias_canary_promote(
    kubectl: Kubectl, namespace: str, gateway: Gateway, mlflow_on_host: MlflowServer,
    mlflow_operator: KopfRunner,
    cluster: DevCluster, tmp_path: Path,
) -> None:  # fmt: skip
    registry = Registry(mlflow_on_host.url)

    # 1. The first TrainingJob trains, passes every gate (no champion yet) and moves production to v1.
    kubectl.apply([tumour_training("first", namespace, mlflow_on_host.url)])
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
        tumour_training("worse", namespace, mlflow_on_host.url, params={"C": "0.00001"}),
        tumour_training("gaps", namespace, mlflow_on_host.url, data_uri=f"file://{bad_csv}"),
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
    kubectl.apply([tumour_training("reviewed", namespace, mlflow_on_host.url, approval="manual")])
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
