"""Argo CD's health checks (gitops/argocd/*.lua) on real ModelDeployments in each phase the cluster tier
reaches: what the operator writes is what the scripts read. With FERRYMAN_CAPTURE_ARGOCD_FIXTURES=DIR the
objects are also written as the chart tier's fixtures (tests/chart/argocd_fixtures, docs/gitops.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from ferryman_testing import MODEL_DEPLOYMENT_CRD
from ferryman_testing.argocd_health import record
from ferryman_testing.kube_cli import Kubectl, schema_without_rules
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import CANARY_INTERVAL_FIELD
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import ferryman
from ferryman_testing.polling import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

# A pause first: the canary is started and held at weight 0 until resumed (no Prometheus needed).
HELD = {"canary": {"steps": [{"pause": {}}, {"weight": 50}], "interval": "30s"}}


def _md(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return kubectl.get("modeldeployment", "fraud", namespace)


def _in_phase(kubectl: Kubectl, namespace: str, phase: str, timeout: float = 90) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        md = _md(kubectl, namespace)
        status = md.get("status") or {}
        caught_up = status.get("observedGeneration", 0) >= md["metadata"]["generation"]
        return md if status.get("phase") == phase and caught_up else None

    return wait_for(f"phase {phase}", reached, timeout=timeout)


def test_each_phase_has_the_health_argo_cd_should_show(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner, tmp_path: Path, cluster: Any
) -> None:
    kubectl.apply([model_deployment("fraud", namespace, model_uri, strategy=HELD)])
    first = wait_for("a first status", lambda: (md := _md(kubectl, namespace)).get("status") and md)
    if first["status"].get("phase") == "Pending":  # the stable pods may be ready before we look
        assert record(first, "pending", "Progressing").status == "Progressing"
    healthy = _in_phase(kubectl, namespace, "Succeeded")
    assert record(healthy, "succeeded", "Healthy").status == "Healthy"

    new_uri = make_gradient_boosting_model(tmp_path / "v2", trees=12).model_path.as_uri()
    kubectl.apply([model_deployment("fraud", namespace, new_uri, strategy=HELD)])
    spec_ahead = _md(kubectl, namespace)
    if spec_ahead["status"].get("observedGeneration", 0) < spec_ahead["metadata"]["generation"]:
        assert record(spec_ahead, "generation-ahead", "Progressing").status == "Progressing"
    paused = _in_phase(kubectl, namespace, "Paused")
    assert record(paused, "paused", "Suspended").status == "Suspended"

    ferryman("abort", "fraud", "-n", namespace, kubeconfig=Path(cluster.kubeconfig))
    rolled_back = _in_phase(kubectl, namespace, "RolledBack")
    shown = record(rolled_back, "rolled-back", "Degraded")
    assert shown.status == "Degraded" and shown.message == rolled_back["status"]["message"]

    # interval 0s under an older schema that stored it: the operator refuses it (test_rollout_spec_errors).
    third_uri = make_gradient_boosting_model(tmp_path / "v3", trees=14).model_path.as_uri()
    invalid = model_deployment(
        "fraud", namespace, third_uri, strategy={"canary": {**HELD["canary"], "interval": "0s"}}
    )
    with schema_without_rules(kubectl, MODEL_DEPLOYMENT_CRD, CANARY_INTERVAL_FIELD, admits=invalid):
        kubectl.apply([invalid])
        degraded = _in_phase(kubectl, namespace, "Degraded")
    shown = record(degraded, "degraded", "Degraded")
    assert shown.status == "Degraded" and "interval" in shown.message
