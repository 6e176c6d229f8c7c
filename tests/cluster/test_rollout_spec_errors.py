"""A rollout whose spec turns invalid mid-way: traffic goes back to stable, and fixing the spec resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from kopf.testing import KopfRunner

from ferryman_testing import MODEL_DEPLOYMENT_CRD
from ferryman_testing.kube_cli import Kubectl, schema_without_rules
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import CANARY_INTERVAL_FIELD, status_of, wait_until_serving
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.polling import wait_for

# Two model versions to serving and a rollout started twice.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def with_canary(namespace: str, uri: str, interval: str) -> dict[str, object]:
    return model_deployment(
        "fraud", namespace, uri, strategy={"canary": {"steps": [{"weight": 50}], "interval": interval}}
    )


def test_invalid_interval_mid_rollout_sends_traffic_back_and_the_fix_starts_again(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner, tmp_path: Path
) -> None:
    """interval: 0s, stored under an older schema that let it through (the current one refuses it), is
    refused by the operator: the canary (replica mode, 50%) goes back to weight 0, its pods go after the
    scale-down delay, and the resource is Degraded naming the field; the next valid edit starts the
    rollout of the same version again (it was never judged, so it is not rejected)."""
    new_uri = make_gradient_boosting_model(tmp_path / "v2", trees=12).model_path.as_uri()
    kubectl.apply([with_canary(namespace, model_uri, "30s")])
    wait_until_serving(kubectl, namespace)
    kubectl.apply([with_canary(namespace, new_uri, "30s")])
    wait_for("canary at 50%", lambda: status_of(kubectl, namespace).get("canaryWeight") == 50, timeout=90)

    invalid = with_canary(namespace, new_uri, "0s")
    with schema_without_rules(kubectl, MODEL_DEPLOYMENT_CRD, CANARY_INTERVAL_FIELD, admits=invalid):
        kubectl.apply([invalid])
        stopped = wait_for(
            "the rollout stopped",
            lambda: (
                (s := status_of(kubectl, namespace)).get("phase") == "Degraded"
                and s.get("canaryWeight") == 0
                and s
            ),
            timeout=30,
        )
        # The spec still cannot be read, yet the stopped canary's pods go after the scale-down delay.
        wait_for(
            "the canary scaled to 0",
            lambda: (
                kubectl.get("deployment", "fraud-canary", namespace)["spec"]["replicas"] == 0
                and "canaryRetireAt" not in status_of(kubectl, namespace)
            ),
            timeout=60,
        )
    assert "interval" in stopped["message"], stopped["message"]
    assert stopped.get("rejectedVersion") is None

    kubectl.apply([with_canary(namespace, new_uri, "30s")])
    restarted = wait_for(
        "the rollout of the same version again",
        lambda: (s := status_of(kubectl, namespace)).get("phase") == "Progressing" and s,
        timeout=30,
    )
    assert restarted["canaryUri"] == new_uri
