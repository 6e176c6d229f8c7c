"""The closed loop on the real stack, in one test: a model trained on data A serves traffic from A (no
drift); the traffic moves to data B (one feature shifted) and the DriftMonitor confirms drift; the retrain
TrainingJob it creates trains on B, passes its gates (it beats the champion on B's holdout), moves the alias;
the ModelDeployment canaries and promotes the new version; traffic from B then shows no drift against the
new version's reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kopf.testing import KopfRunner
from sklearn.datasets import load_breast_cancer
from tests.e2e.training_harness import (
    ALIAS,
    DEPLOYMENT,
    REGISTERED,
    host_of,
    rollout_ended,
    tumour_training,
    tumour_training_spec,
    wait_for_md,
    wait_for_status,
    wait_for_tj,
)

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import steady_load
from ferryman_testing.manifests import model_deployment
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.registry import Registry
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MONITOR = "tumours-watch"
SHIFTED = "mean radius"
ROWS_PER_REQUEST = 5  # at 20 requests/s: 100 rows/s, enough for minSamples in a window


def datasets(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A: the bundled data. B: the same with `mean radius` moved by three standard deviations (a new
    scanner calibration, say): the champion, trained on A, misreads B."""
    a = load_breast_cancer(as_frame=True).frame
    b = a.copy()
    b[SHIFTED] += 3 * a[SHIFTED].std()
    a.to_csv(directory / "a.csv", index=False)
    b.to_csv(directory / "b.csv", index=False)
    return a, b


def bodies_from(frame: pd.DataFrame, seed: int) -> list[dict[str, object]]:
    """Requests of ROWS_PER_REQUEST rows drawn from frame (with replacement): production traffic like it.
    More rows than a window holds (3,000 against 1,500): the load picks bodies again and again, and with
    too few of them a window would be one small sample counted many times, whose chance differences from
    the reference the monitor rightly calls drift (seen with 300 rows)."""
    features = frame.drop(columns=["target"]).to_numpy(dtype=np.float32)
    rng = np.random.default_rng(seed)
    bodies: list[dict[str, object]] = []
    for _ in range(600):
        rows = features[rng.integers(0, len(features), ROWS_PER_REQUEST)]
        tensor = {
            "name": "features",
            "shape": list(rows.shape),
            "datatype": "FP32",
            "data": rows.ravel().tolist(),
        }
        bodies.append({"inputs": [tensor]})
    return bodies


def drift_monitor(namespace: str, retrain_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": MONITOR, "namespace": namespace},
        "spec": {
            "modelDeploymentRef": {"name": DEPLOYMENT},
            "window": "15s",
            "interval": "3s",
            "minSamples": 500,
            "consecutive": 2,
            "onDrift": {"cooldown": "1h", "retrain": {"trainingJobTemplate": {"spec": retrain_spec}}},
        },
    }


def wait_for_monitor(
    kubectl: Kubectl, namespace: str, what: str, check: Any, timeout: float = 120
) -> dict[str, Any]:
    shown = ("phase", "driftedFeatures", "message")
    return wait_for_status(kubectl, "driftmonitor", MONITOR, namespace, what, check, shown, timeout)


def healthy_on(version: str) -> Any:
    """Healthy, judged on `version`, with every feature scored on enough rows and none drifting."""

    def check(status: dict[str, Any]) -> bool:
        scores = status.get("featureScores") or []
        judged = f"series of version {version} over" in (status.get("message") or "") and bool(scores)
        quiet = all(score.get("samples", 0) >= 500 and not score.get("drifted") for score in scores)
        return status.get("phase") == "Healthy" and judged and quiet

    return check


def test_drift_retrains_gates_promotes_and_the_new_version_sees_no_drift(
    kubectl: Kubectl, namespace: str, gateway: Gateway, mlflow_on_host: MlflowServer,
    mlflow_operator: KopfRunner,
    tmp_path: Path,
) -> None:  # fmt: skip
    a, b = datasets(tmp_path)
    registry = Registry(mlflow_on_host.url)
    url = mlflow_on_host.url

    # v1 trained on A, served through the alias.
    kubectl.apply([tumour_training("on-a", namespace, url, data_uri=f"file://{tmp_path / 'a.csv'}")])
    assert wait_for_tj(kubectl, namespace, "on-a", "Succeeded", "Rejected", "Failed")["phase"] == "Succeeded"
    canary = {"steps": [{"weight": 25}, {"weight": 50}], "interval": "3s",
              "analysis": {"minRequests": 10, "failureLimit": 2, "maxLatencyP99": "200ms"}}  # fmt: skip
    kubectl.apply([
        model_deployment(
            DEPLOYMENT, namespace, f"models:/{REGISTERED}@{ALIAS}", strategy={"canary": canary},
            parent_ref=gateway.parent_ref, hostname=host_of(namespace)["Host"],
        )
    ])  # fmt: skip
    wait_for_md(kubectl, namespace, "v1 stable", lambda s: s.get("stableVersion") == "1" and s.get("phase"))
    retrain = tumour_training_spec(url, data_uri=f"file://{tmp_path / 'b.csv'}")

    # Traffic from A: no drift.
    with steady_load(
        gateway.base_url, REGISTERED, rate=20, headers=host_of(namespace), bodies=bodies_from(a, 1)
    ):
        kubectl.apply([drift_monitor(namespace, retrain)])
        wait_for_monitor(kubectl, namespace, "Healthy on A's traffic", healthy_on("1"))

    # Traffic from B: drift confirmed, a retrain on B, gates, alias, canary, promoted.
    with steady_load(
        gateway.base_url, REGISTERED, rate=20, headers=host_of(namespace), bodies=bodies_from(b, 2)
    ) as load:  # fmt: skip
        drifted = wait_for_monitor(
            kubectl, namespace, "drift confirmed", lambda s: SHIFTED in (s.get("driftedFeatures") or [])
        )
        retrain_name = f"{MONITOR}-drift-1"
        trained = wait_for_tj(kubectl, namespace, retrain_name, "Succeeded", "Rejected", "Failed")
        assert trained["phase"] == "Succeeded", trained.get("message")
        champion = next(gate for gate in trained["gates"] if gate["name"] == "champion:accuracy")
        assert champion["passed"] and "beats champion" in champion["message"], champion
        v2 = trained["modelVersion"]
        assert registry.alias_version(REGISTERED, ALIAS) == v2
        final = wait_for_md(kubectl, namespace, f"the rollout of v{v2}", rollout_ended(v2), timeout=240)
        assert final["phase"] == "Succeeded" and final["stableVersion"] == v2, final.get("message")
        after = wait_for_monitor(kubectl, namespace, "Healthy on B's traffic against v2", healthy_on(v2))
        report = load.stop()
    assert report.errors == 0, report
    assert SHIFTED in drifted["driftedFeatures"]
    assert after["lastRetrain"]["trainingJob"] == retrain_name
    names = [item["metadata"]["name"] for item in kubectl.get_json("trainingjobs", "-n", namespace)["items"]]
    assert sorted(names) == ["on-a", retrain_name], "one retrain: no tight loop"
