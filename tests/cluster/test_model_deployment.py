"""The ModelDeployment first slice against a real kube-apiserver, controller-manager and scheduler."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from ferryman_testing.kube_cli import Kubectl, kubectl_binary
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import PRINTER_COLUMNS, served_uri, status_of, wait_until_serving
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import running_operator
from ferryman_testing.polling import wait_for

# Two model versions to serving (120 s each at most) in one test.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def resource_versions(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    listing = json.loads(
        kubectl.run("get", "modeldeployments,deployments,services", "-n", namespace, "-o", "json")
    )
    return {f"{item['kind']}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
            for item in listing["items"]}  # fmt: skip


def test_apply_creates_owned_deployment_and_service_and_becomes_ready(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """A ModelDeployment yields its Deployment and Service, its pod becomes Ready, status says so."""
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    status = wait_until_serving(kubectl, namespace)

    md = kubectl.get("modeldeployment", "fraud", namespace)
    for kind, name in (("deployment", "fraud-stable"), ("service", "fraud")):
        owned = json.loads(
            kubectl.run("get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields")
        )
        (owner,) = owned["metadata"]["ownerReferences"]
        assert owner["uid"] == md["metadata"]["uid"]
        assert owned["metadata"]["managedFields"][0]["manager"] == "ferryman"
    assert status["observedGeneration"] == md["metadata"]["generation"]
    pods = json.loads(kubectl.run("get", "pods", "-n", namespace, "-o", "json"))["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]

    table = kubectl.run("get", "md", "-n", namespace).splitlines()
    assert table[0].split() == PRINTER_COLUMNS
    assert table[1].split()[:4] == ["fraud", "Succeeded", "0", status["stableVersion"]]


def test_deleting_the_model_deployment_garbage_collects_what_it_owns(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """Owner references let the real garbage collector remove Deployment, Service and pods."""
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    wait_until_serving(kubectl, namespace)
    kubectl.delete("modeldeployment", "fraud", namespace, wait=True)

    def gone() -> bool:
        left = kubectl.run("get", "deployments,services,replicasets", "-n", namespace, "-o", "name")
        return not left.strip()

    wait_for("owned objects to be garbage-collected", gone, timeout=60)


def test_a_new_model_deployment_gets_two_status_writes_on_its_way_to_ready(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """Pending once, then Succeeded: the steps of pod creation are not each a status write, and the
    reconcile's write does not lose a race to the readiness handler (each costs the API server work
    that a thousand new ModelDeployments multiply)."""
    watch = subprocess.Popen(
        [kubectl_binary(), f"--kubeconfig={kubectl.kubeconfig}", "get", "modeldeployments",
         "-n", namespace, "--watch", "-o", "jsonpath={.status}{'\\n'}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        kubectl.apply([model_deployment("fraud", namespace, model_uri)])
        wait_until_serving(kubectl, namespace)
        time.sleep(3)  # any write the readiness events still cause
    finally:
        watch.terminate()
    seen = [json.loads(line) for line in watch.communicate()[0].splitlines() if line.strip()]
    statuses = [status for before, status in zip([{}, *seen], seen, strict=False) if status != before]
    # Normally Pending, then Succeeded. Should the pod be Ready before the reconcile writes, the readiness
    # handler writes Succeeded first and the reconcile adds its observedGeneration: two writes still.
    phases = [s.get("phase") for s in statuses]
    assert len(statuses) <= 2 and phases[-1] == "Succeeded" and "Pending" not in phases[1:], statuses


def test_operator_restart_and_idle_resync_write_nothing(
    operator_kubeconfig: Path, kubectl: Kubectl, namespace: str, model_uri: str
) -> None:
    """Once serving, neither a restart of the operator nor idle time changes any resourceVersion."""
    with running_operator(operator_kubeconfig, namespace):
        kubectl.apply([model_deployment("fraud", namespace, model_uri)])
        wait_until_serving(kubectl, namespace)
        time.sleep(3)  # let the last readiness event land before taking the baseline
        before = resource_versions(kubectl, namespace)
    with running_operator(operator_kubeconfig, namespace):
        time.sleep(15)  # resume handlers, the initial listing, and idle time
        after = resource_versions(kubectl, namespace)
    assert after == before


def test_edit_made_while_the_operator_is_down_is_applied_when_it_starts(
    operator_kubeconfig: Path, kubectl: Kubectl, namespace: str, model_uri: str, tmp_path: Path
) -> None:
    """Kopf's resume path: a new model URI written with no operator running rolls out on its start."""
    with running_operator(operator_kubeconfig, namespace):
        kubectl.apply([model_deployment("fraud", namespace, model_uri)])
        first = wait_until_serving(kubectl, namespace)
    second_model = make_gradient_boosting_model(tmp_path / "v2", trees=5).model_path.as_uri()
    kubectl.apply([model_deployment("fraud", namespace, second_model)])
    time.sleep(3)
    assert served_uri(kubectl.get("deployment", "fraud-stable", namespace)) == model_uri, "nothing moves yet"
    with running_operator(operator_kubeconfig, namespace):
        second = wait_until_serving(kubectl, namespace, uri=second_model)
    md = kubectl.get("modeldeployment", "fraud", namespace)
    assert second["observedGeneration"] == md["metadata"]["generation"]
    assert second["stableVersion"] != first["stableVersion"]
    assert served_uri(kubectl.get("deployment", "fraud-stable", namespace)) == second_model


def test_new_model_version_updates_the_deployment_once(
    kubectl: Kubectl, namespace: str, model_uri: str, tmp_path: Path, operator: KopfRunner
) -> None:
    """Without a rollout strategy, a new model URI rolls the stable Deployment exactly once."""
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    first = wait_until_serving(kubectl, namespace)
    generation = kubectl.get("deployment", "fraud-stable", namespace)["metadata"]["generation"]

    second_model = make_gradient_boosting_model(tmp_path / "v2", trees=5).model_path.as_uri()
    kubectl.apply([model_deployment("fraud", namespace, second_model)])
    second = wait_until_serving(kubectl, namespace, uri=second_model)
    deployment = kubectl.get("deployment", "fraud-stable", namespace)
    assert second["stableVersion"] != first["stableVersion"]
    assert deployment["metadata"]["generation"] == generation + 1
    assert served_uri(deployment) == second_model


def test_spec_the_schema_cannot_judge_marks_degraded_and_keeps_serving(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """A registry URI on an operator without a registry: Degraded naming the field; old pods keep serving."""
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    wait_until_serving(kubectl, namespace)
    pods_before = kubectl.run("get", "pods", "-n", namespace, "-o", "name")

    kubectl.apply([model_deployment("fraud", namespace, "models:/fraud/8")])

    def degraded() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace)
        return status if status.get("phase") == "Degraded" else None

    status = wait_for("Degraded", degraded, timeout=60)
    assert status["message"].startswith("spec.model.uri: models:/fraud/8")
    assert "FERRYMAN_MLFLOW_TRACKING_URI" in status["message"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "True", "Progressing": "False", "Degraded": "True"}
    assert status["stableUri"] == model_uri
    assert kubectl.run("get", "pods", "-n", namespace, "-o", "name") == pods_before
    events = kubectl.run(
        "get", "events", "-n", namespace, "--field-selector", "reason=InvalidSpec", "-o", "name"
    )
    assert events.strip()


@pytest.mark.parametrize(
    ("strategy", "event_type"),
    [
        (None, "Warning"),  # no rollout strategy: the action cannot mean anything here
        ({"canary": {}}, "Normal"),  # a finished rollout: a no-op, as the machine's own ActionIgnored
    ],
)
def test_action_without_a_rollout_is_ignored_with_an_event_and_cleared(
    cluster: Any, kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner,
    strategy: dict[str, Any] | None, event_type: str,
) -> None:  # fmt: skip
    """`ferryman abort` on a ModelDeployment with nothing to abort: an ActionIgnored Event, the annotation
    goes. Without a strategy that is a Warning; on a finished rollout it was a Warning too, where the
    docs promise the Normal Event that every other action that does not apply gives."""
    kubectl.apply([model_deployment("fraud", namespace, model_uri, strategy=strategy)])
    wait_until_serving(kubectl, namespace)
    kubectl.run("annotate", "modeldeployment", "fraud", "-n", namespace, "ferryman.dev/action=abort")

    def cleared() -> bool:
        annotations = kubectl.get("modeldeployment", "fraud", namespace)["metadata"].get("annotations", {})
        return "ferryman.dev/action" not in annotations

    wait_for("the action annotation to be cleared", cleared, timeout=30)
    events = kubectl.run(
        "get", "events", "-n", namespace, "--field-selector", "reason=ActionIgnored",
        "-o", "jsonpath={.items[*].type}",
    )  # fmt: skip
    assert events.split() == [event_type]
    assert status_of(kubectl, namespace)["phase"] == "Succeeded"


def test_a_registry_model_with_the_stable_version_number_starts_a_rollout(
    operator_kubeconfig: Path, kubectl: Kubectl, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """models:/a/7 then models:/b/7 both read "7": the handler failed on every retry; now a canary starts.

    The registry address is never answered (the pods stay unready); what is tested is the handler's decision.
    """
    monkeypatch.setenv("FERRYMAN_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    md = model_deployment("fraud", namespace, "models:/a/7")
    md["spec"]["strategy"] = {"canary": {"steps": [{"weight": 50}]}}
    with running_operator(operator_kubeconfig, namespace):
        kubectl.apply([md])
        wait_for("stable recorded", lambda: status_of(kubectl, namespace).get("stableUri") == "models:/a/7")
        md["spec"]["model"]["uri"] = "models:/b/7"
        kubectl.apply([md])
        status = wait_for(
            "the canary of models:/b/7",
            lambda: (s := status_of(kubectl, namespace)).get("canaryUri") == "models:/b/7" and s,
            timeout=30,
        )
        assert status["phase"] == "Progressing"
        assert status["stableVersion"] == "7"
        assert status["canaryVersion"].startswith("7-")
        canary = kubectl.get("deployment", "fraud-canary", namespace)
        assert canary["metadata"]["labels"]["ferryman.dev/model-version"] == status["canaryVersion"]
        kubectl.delete("modeldeployment", "fraud", namespace, wait=True)
