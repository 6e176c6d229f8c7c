"""The operator never adopts or rewrites an object it does not own (real API server and garbage collector)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import status_of, wait_until_degraded, wait_until_serving
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.polling import wait_for

# Pods to Ready (up to two minutes on a busy machine) before the checks.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def foreign_service(namespace: str, name: str) -> dict[str, Any]:
    """A Service someone else made, with a selector of their own."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "db"}},
        "spec": {"selector": {"app": "postgres"}, "ports": [{"name": "pg", "port": 5432}]},
    }


def test_existing_service_of_the_same_name_is_left_alone_and_reported(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """An MD `db` beside a user's Service `db`: Degraded naming the Service, which survives untouched."""
    kubectl.apply([foreign_service(namespace, "db")], field_manager="dba")
    before = kubectl.get("service", "db", namespace)

    kubectl.apply([model_deployment("db", namespace, model_uri)])
    status = wait_until_degraded(kubectl, namespace, "db")

    assert f"Service {namespace}/db already exists" in status["message"]
    assert "rename this ModelDeployment" in status["message"]
    after = kubectl.get("service", "db", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "ownerReferences" not in after["metadata"]
    kubectl.delete("modeldeployment", "db", namespace, wait=True)
    assert kubectl.get("service", "db", namespace)["spec"]["selector"] == {"app": "postgres"}


def test_two_model_deployments_never_fight_over_a_derived_name(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """`a-stable` owns Service a-stable; `a` in gateway mode wants it too: `a` is Degraded, nothing moves."""
    kubectl.apply([model_deployment("a-stable", namespace, model_uri)])
    wait_until_serving(kubectl, namespace, name="a-stable")
    owner_uid = kubectl.get("modeldeployment", "a-stable", namespace)["metadata"]["uid"]
    before = kubectl.get("service", "a-stable", namespace)

    wants_track_services = model_deployment("a", namespace, model_uri)
    wants_track_services["spec"]["traffic"] = {"mode": "gateway", "gateway": {"parentRefs": [{"name": "gw"}]}}
    kubectl.apply([wants_track_services])
    status = wait_until_degraded(kubectl, namespace, "a")

    assert (
        f"Service {namespace}/a-stable already exists and is controlled by ModelDeployment a-stable"
        in (status["message"])
    )
    after = kubectl.get("service", "a-stable", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert [ref["uid"] for ref in after["metadata"]["ownerReferences"]] == [owner_uid]


def test_objects_left_by_a_deleted_namesake_are_waited_for_not_reported(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    """Delete an MD and create it again at once: its old Service, not yet collected, is no takeover.

    Made deterministic with a Service whose controller is a ModelDeployment `fraud` that no longer
    exists (another uid); the real garbage collector removes it, then the new `fraud` serves.
    """
    leftover = foreign_service(namespace, "fraud")
    leftover["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "ferryman.dev/v1alpha1",
            "kind": "ModelDeployment",
            "name": "fraud",
            "uid": "00000000-0000-4000-8000-000000000000",
            "controller": True,
        }
    ]
    kubectl.apply([leftover], field_manager="ferryman")
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])

    status = wait_until_serving(kubectl, namespace)
    assert status["phase"] == "Succeeded"
    service = kubectl.get("service", "fraud", namespace)
    owner_uid = kubectl.get("modeldeployment", "fraud", namespace)["metadata"]["uid"]
    assert [ref["uid"] for ref in service["metadata"]["ownerReferences"]] == [owner_uid]


def foreign_deployment(namespace: str, name: str) -> dict[str, Any]:
    """A Deployment someone else made (its pods are simulated: nothing needs to run)."""
    labels = {"app": "theirs"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"devcluster.ferryman.dev/simulate": "true"}},
                "spec": {"containers": [{"name": "app", "image": "theirs:1", "command": ["sleep", "3600"]}]},
            },
        },
    }


def test_an_object_taken_mid_rollout_degrades_the_rollout_and_is_left_alone(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner, tmp_path: Path
) -> None:
    """Mid-rollout, someone replaces the canary Deployment with their own: the rollout timer does not fail
    on every tick; the rollout ends Degraded naming the object, traffic goes back to stable, and the
    stranger's Deployment is neither rewritten nor scaled down."""
    strategy = {"canary": {"steps": [{"weight": 50}], "interval": "30s"}}
    kubectl.apply([model_deployment("fraud", namespace, model_uri, strategy=strategy)])
    wait_until_serving(kubectl, namespace)
    new_uri = make_gradient_boosting_model(tmp_path / "v2", trees=12).model_path.as_uri()
    kubectl.apply([model_deployment("fraud", namespace, new_uri, strategy=strategy)])
    wait_for("canary at 50%", lambda: status_of(kubectl, namespace).get("canaryWeight") == 50, timeout=90)

    kubectl.run("delete", "deployment", "fraud-canary", "-n", namespace, "--cascade=orphan", "--wait=true")
    kubectl.apply([foreign_deployment(namespace, "fraud-canary")], field_manager="someone")
    before = kubectl.get("deployment", "fraud-canary", namespace)
    # The next analysis tick (every few seconds while traffic is split) applies the canary again.
    status = wait_until_degraded(kubectl, namespace)
    assert f"Deployment {namespace}/fraud-canary already exists" in status["message"], status["message"]
    assert status["canaryWeight"] == 0
    time.sleep(15)  # past the scale-down delay: a canary of ours would be scaled to 0 by now
    after = kubectl.get("deployment", "fraud-canary", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["replicas"] == 2 and "ownerReferences" not in after["metadata"]
