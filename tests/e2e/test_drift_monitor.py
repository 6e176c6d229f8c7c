"""DriftMonitor on the real stack: serving pods count features into the profile's bins, Prometheus scrapes
them, the operator judges one query per interval, reports, exports gauges and retrains (once)."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import MODEL, apply_model, canary, events, host_of, wait_until_serving

from ferryman_testing import FERRYMAN_CRDS, model_deployments
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, KubectlError, install_crds
from ferryman_testing.models import FEATURES, INPUT_NAME, make_argmax_classifier, make_gradient_boosting_model
from ferryman_testing.operator import operator_metrics, running_operator
from ferryman_testing.polling import wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MONITOR = "fraud-watch"
SHIFTED = 3  # the feature whose mean moves by one standard deviation
# The first windows after traffic starts hold few rows (819 in one run), and a single window's score can
# cross a threshold by chance there (f9 at JS 0.107 once); `consecutive: 2` is what keeps that from being
# reported as drift. A full 15 s window holds about 7,500 rows: judged on one of 3,000, no score is
# near a threshold on training-like traffic.
FULL_WINDOW_ROWS = 3000
TRAINER = [sys.executable, "-m", "ferryman_testing.trainers.logs_a_run"]


@pytest.fixture
def operator(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, prometheus: PrometheusServer
) -> Iterator[KopfRunner]:
    """The operator; serving pods run the serving image built from this checkout (scripts/test builds it)."""
    install_crds(kubectl, *FERRYMAN_CRDS)
    with running_operator(Path(cluster.kubeconfig), namespace, prometheus.url) as runner:
        yield runner
        # While the operator runs, so that the finalizers guarding the timers are released.
        for kind in ("driftmonitors", "trainingjobs", "modeldeployments"):
            kubectl.run("delete", kind, "--all", "-n", namespace, "--wait=true", "--timeout=60s")


@contextmanager
def running_in_background(send: Callable[[], None], stop: threading.Event) -> Iterator[None]:
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@contextmanager
def feature_traffic(gateway: Gateway, namespace: str, shift: list[float]) -> Iterator[None]:
    """Batches of 100 standard-normal rows (the training distribution) about 5 times a second, plus
    `shift[0]` added to feature SHIFTED, which the test may change while traffic runs."""
    stop = threading.Event()

    def send() -> None:
        rng = np.random.default_rng(1)
        with httpx.Client(base_url=gateway.base_url, timeout=5, headers=host_of(namespace)) as client:
            while not stop.is_set():
                rows = rng.standard_normal((100, FEATURES)).astype(np.float32)
                rows[:, SHIFTED] += shift[0]
                body = {"inputs": [{"name": INPUT_NAME, "shape": [100, FEATURES], "datatype": "FP32",
                                    "data": rows.ravel().tolist()}]}  # fmt: skip
                with contextlib.suppress(httpx.HTTPError):  # a lost request is only a missing sample
                    client.post(f"/v2/models/{MODEL}/infer", json=body)
                stop.wait(0.2)

    with running_in_background(send, stop):
        yield


def drift_monitor(namespace: str, *, retrain: bool = True, ref: str = MODEL) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "modelDeploymentRef": {"name": ref},
        "window": "15s",
        "interval": "3s",
        "minSamples": 500,
        "consecutive": 2,
    }
    if retrain:
        container = {"name": "train", "image": "stand-in", "command": TRAINER,
                     "env": [{"name": "STANDIN_EXIT", "value": "3"}]}  # fmt: skip
        spec["onDrift"] = {
            "cooldown": "1h",
            "retrain": {
                "trainingJobTemplate": {
                    "metadata": {"labels": {"team": "risk"}},
                    "spec": {
                        "template": {"spec": {"containers": [container]}},
                        "mlflow": {
                            "trackingUri": "http://127.0.0.1:9",
                            "experiment": "e",
                            "registeredModel": MODEL,
                        },
                        "backoffLimit": 0,
                    },
                }
            },
        }
    return {"apiVersion": "ferryman.dev/v1alpha1", "kind": "DriftMonitor",
            "metadata": {"name": MONITOR, "namespace": namespace}, "spec": spec}  # fmt: skip


def monitor_status(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return dict(kubectl.get("driftmonitor", MONITOR, namespace).get("status") or {})


def wait_for_monitor(kubectl: Kubectl, namespace: str, phase: str, timeout: float = 90) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = monitor_status(kubectl, namespace)
        return status if status.get("phase") == phase else None

    return wait_for(f"DriftMonitor {phase}", reached, timeout=timeout)


def healthy_on_full_window(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    """The monitor's status once a window holds FULL_WINDOW_ROWS rows of every series; fails at once if
    drift is confirmed on training-like traffic on the way there (a false alarm)."""
    status = monitor_status(kubectl, namespace)
    assert not status.get("driftedFeatures") and status.get("phase") != "Drifted", status
    scores = status.get("featureScores") or []
    full = bool(scores) and all(s["samples"] >= FULL_WINDOW_ROWS for s in scores)
    return status if status.get("phase") == "Healthy" and full else None


def retrain_phase(kubectl: Kubectl, namespace: str) -> str | None:
    return kubectl.get("trainingjob", f"{MONITOR}-drift-1", namespace).get("status", {}).get("phase")


def test_shifted_feature_is_flagged_and_retrained_once(
    kubectl: Kubectl, namespace: str, gateway: Gateway, operator: KopfRunner, tmp_path: Path
) -> None:
    """Training-like traffic: Healthy, scores for all 20 features and the prediction. One feature moved by
    1 sigma: Drifted naming it, a TrainingJob owned by the monitor with the feature in its annotations,
    gauges saying so; the TrainingJob fails and the cooldown keeps a second one from starting."""
    uri = make_gradient_boosting_model(tmp_path / "v1", trees=10).model_path.as_uri()
    apply_model(kubectl, namespace, gateway, uri, canary([50, 100]))
    wait_until_serving(kubectl, namespace, uri, gateway)
    shift = [0.0]
    with feature_traffic(gateway, namespace, shift):
        kubectl.apply([drift_monitor(namespace)])
        healthy = wait_for(
            f"Healthy on a window of at least {FULL_WINDOW_ROWS} rows",
            lambda: healthy_on_full_window(kubectl, namespace),
            timeout=90,
        )
        assert {s["feature"] for s in healthy["featureScores"]} == {f"f{i}" for i in range(FEATURES)} | {
            "prediction"
        }
        assert not any(s["drifted"] for s in healthy["featureScores"]), healthy
        shift[0] = 1.0
        drifted = wait_for(
            "drift confirmed",
            lambda: s if (s := monitor_status(kubectl, namespace)).get("driftedFeatures") else None,
            timeout=90,
        )
        assert f"f{SHIFTED}" in drifted["driftedFeatures"], drifted
        assert set(drifted["driftedFeatures"]) <= {f"f{SHIFTED}", "prediction"}, drifted
        job = wait_for(
            "a retrain",
            lambda: kubectl.get("trainingjob", f"{MONITOR}-drift-1", namespace),
            timeout=30,
            tolerate=(KubectlError,),
        )
        metadata = job["metadata"]
        assert metadata["ownerReferences"][0]["name"] == MONITOR
        assert f"f{SHIFTED}" in metadata["annotations"]["ferryman.dev/drifted-features"]
        assert f"f{SHIFTED} (psi" in metadata["annotations"]["ferryman.dev/drift-scores"]
        assert metadata["labels"]["team"] == "risk"
        labels = f'feature="f{SHIFTED}",model_deployment="{MODEL}",namespace="{namespace}"'
        detected = f'ferryman_drift_detected{{drift_monitor="{MONITOR}",{labels}}} 1.0'
        # /metrics may show an exposition up to 5 s old (docs/metrics.md, "Operator metrics").
        gauges = wait_for(
            "the drift gauges", lambda: detected in (text := operator_metrics()) and text, timeout=15
        )
        assert f'ferryman_drift_score{{drift_monitor="{MONITOR}",{labels},test="psi"}}' in gauges
        # The retrain fails (its trainer exits 3); drift goes on, and the cooldown holds the next one.
        wait_for(
            "the retrain to fail", lambda: retrain_phase(kubectl, namespace) == "Failed" or None, timeout=90
        )
        wait_for_monitor(kubectl, namespace, "Drifted", timeout=30)
        listing = kubectl.get_json("trainingjobs", "-n", namespace)["items"]
        assert [item["metadata"]["name"] for item in listing] == [f"{MONITOR}-drift-1"]
        assert monitor_status(kubectl, namespace)["lastRetrain"]["trainingJob"] == f"{MONITOR}-drift-1"
    assert events(kubectl, namespace, "Drifted"), "an Event on the transition to Drifted"
    (started,) = events(kubectl, namespace, "RetrainStarted")
    assert f"{MONITOR}-drift-1" in started


def test_missing_model_deployment_is_a_condition_not_a_guess(
    kubectl: Kubectl, namespace: str, operator: KopfRunner
) -> None:
    kubectl.apply([drift_monitor(namespace, retrain=False, ref="nowhere")])
    status = wait_for_monitor(kubectl, namespace, "Degraded", timeout=30)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ModelDeploymentNotFound"
    assert "spec.modelDeploymentRef.name" in ready["message"]


@contextmanager
def labelled_traffic(gateway: Gateway, namespace: str, wrong_share: list[float]) -> Iterator[None]:
    """One-row requests with an id, each labelled at once through POST .../feedback; a share
    `wrong_share[0]` of the labels disagrees with the prediction (the world changed under the model)."""
    stop = threading.Event()

    def send() -> None:
        rng = np.random.default_rng(2)
        with httpx.Client(base_url=gateway.base_url, timeout=5, headers=host_of(namespace)) as client:
            for number in range(1_000_000):
                if stop.is_set():
                    return
                row = rng.standard_normal(2).tolist()
                body = {
                    "id": f"r{number}",
                    "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": row}],
                }
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.post(f"/v2/models/{MODEL}/infer", json=body)
                    if answer.status_code == 200:
                        predicted = int(answer.json()["outputs"][0]["data"][0])
                        label = 1 - predicted if rng.random() < wrong_share[0] else predicted
                        client.post(f"/v2/models/{MODEL}/feedback", json={"id": f"r{number}", "label": label})
                stop.wait(0.02)

    with running_in_background(send, stop):
        yield


def test_delayed_labels_drive_the_accuracy_signal(
    kubectl: Kubectl, namespace: str, gateway: Gateway, operator: KopfRunner, tmp_path: Path
) -> None:
    """A classifier labelled right: accuracy 1.0, Healthy. Then 40% of the labels disagree: accuracy
    about 0.6 < minAccuracy 0.9 for two checks: Drifted in the series "accuracy", inputs unchanged."""
    uri = make_argmax_classifier(tmp_path / "clf", with_profile=True).as_uri()
    apply_model(kubectl, namespace, gateway, uri, canary([50, 100]))
    model_deployments.wait_until_serving(kubectl, namespace, name=MODEL, uri=uri)
    monitor = drift_monitor(namespace, retrain=False)
    # This test is about labels, so its input checks are set never to fire (JS is at most 1). Its windows
    # hold a few hundred rows or fewer on a loaded machine, where the defaults false-alarm now and then
    # (docs/drift.md: JS > 0.1 on 14% of 100-row windows of unchanged data; a CI run confirmed drift in
    # input "a" at JS 0.103): a Drifted here is the labels' doing.
    monitor["spec"].update(
        {
            "performance": {"minAccuracy": 0.9, "minLabels": 50},
            "minSamples": 50,
            "tests": {"psi": 100.0, "js": 1.0},
        }
    )
    wrong = [0.0]
    with labelled_traffic(gateway, namespace, wrong):
        kubectl.apply([monitor])
        healthy = wait_for_monitor(kubectl, namespace, "Healthy")
        accuracy = next(s for s in healthy["featureScores"] if s["feature"] == "accuracy")
        assert accuracy["accuracy"] == 1.0 and accuracy["samples"] >= 50, healthy
        wrong[0] = 0.4
        drifted = wait_for_monitor(kubectl, namespace, "Drifted", timeout=90)
    assert drifted["driftedFeatures"] == ["accuracy"], drifted
    accuracy = next(s for s in drifted["featureScores"] if s["feature"] == "accuracy")
    assert accuracy["accuracy"] < 0.9, accuracy
