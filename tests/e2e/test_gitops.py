"""What Argo CD sees after a full rollout: the user's manifest has no diff against the live object."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    canary,
    host_of,
    model_manifest,
    wait_for_rollout_end,
    wait_until_serving,
)

from ferryman_testing.chart_tools import CHART
from ferryman_testing.kube_cli import Kubectl, kubectl_binary
from ferryman_testing.load import steady_load
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


DASHBOARD = CHART / "files" / "dashboard.json"
RULES = CHART / "files" / "prometheus-rules.yaml"
# Series that only a DriftMonitor (none in this test) or kube-state-metrics export: their queries must
# parse, and have nothing to show here.
NOT_EXPORTED_HERE = ("ferryman_drift_score", "ferryman_drift_detected", "kube_deployment_")


def check_dashboard_queries(prometheus: PrometheusServer, namespace: str) -> None:
    """Every dashboard query, with its variables filled in, parses on the real Prometheus and returns
    series of this ModelDeployment; the alert expressions parse too."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in exprs:
        filled = expr.replace("$namespace", namespace).replace("$model_deployment", MODEL)
        wanted = not any(name in expr for name in NOT_EXPORTED_HERE)
        series = prometheus.wait_for_query(filled, lambda samples, w=wanted: bool(samples) or not w)
        assert bool(series) == wanted, (filled, series)
    # The dashboard's variable: label_values(ferryman_model_info{namespace=...}, model_deployment).
    match = f'ferryman_model_info{{namespace="{namespace}"}}'
    assert prometheus.api_get("label/model_deployment/values", **{"match[]": match}) == [MODEL]
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            prometheus.query(rule["expr"])  # raises PrometheusQueryError if it does not parse


def test_after_a_full_rollout_argo_cd_sees_no_diff_and_the_dashboard_shows_the_rollout(
    kubectl: Kubectl, namespace: str, gateway: Gateway, operator: KopfRunner, prometheus: PrometheusServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    """The operator writes only .status, its finalizer and its own annotations; a server-side diff (what
    Argo CD's server-side diff runs) of the manifest the user applied finds nothing to change. While the
    rollout's traffic flows, every dashboard panel shows its series on the real Prometheus."""
    root = tmp_path_factory.mktemp("models")
    v1 = make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri()
    v2 = make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri()
    # The in-process operator's own /metrics, for the dashboard's phase panel.
    prometheus.add_static_job("ferryman-operator", [os.environ["FERRYMAN_METRICS_ADDRESS"]])
    strategy = canary([50])
    apply_model(kubectl, namespace, gateway, v1, strategy)
    wait_until_serving(kubectl, namespace, v1, gateway)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, v2, strategy)
        ended = wait_for_rollout_end(kubectl, namespace, v2)
        # While traffic still flows: every dashboard panel shows this ModelDeployment's series.
        check_dashboard_queries(prometheus, namespace)
    assert ended["phase"] == "Succeeded", ended

    users_manifest = model_manifest(namespace, gateway, v2, strategy)
    diff = subprocess.run(
        [kubectl_binary(), f"--kubeconfig={kubectl.kubeconfig}", "diff", "--server-side",
         "--field-manager=ferryman-e2e", "-f", "-"],
        input=yaml.safe_dump(users_manifest), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stdout + diff.stderr
