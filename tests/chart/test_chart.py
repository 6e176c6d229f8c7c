"""helm lint and the chart's helm-unittest suites (charts/ferryman/tests)."""

from __future__ import annotations

import json

import pytest
import yaml

from ferryman_testing.chart_tools import CHART, ChartTools, run_tool

pytestmark = pytest.mark.chart

EVERY_OPTION = (
    "monitoring.podMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.dashboard.enabled=true",
    "networkPolicy.enabled=true",
)


def test_helm_lint_passes_strict_with_every_option_on(tools: ChartTools) -> None:
    run_tool(tools.helm, "lint", "--strict", CHART)
    run_tool(tools.helm, "lint", "--strict", CHART, *(f"--set={o}" for o in EVERY_OPTION))


def test_helm_unittest_suites_pass(tools: ChartTools) -> None:
    output = run_tool(tools.unittest, "--color=false", CHART)
    assert "Tests:" in output and "failed" not in output.split("Tests:")[1].split("\n")[0], output


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ("replicaCount=-1", "minimum"),
        ("leaderElection.leaseDurationSeconds=1", "leaseDurationSeconds"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("monitoring.podMonitr.enabled=true", "podMonitr"),
        # Before, these rendered: the operator then crash-looped, or the API refused the object at install.
        ("leaderElection.renewDeadlineSeconds=20", "retryPeriodSeconds < renewDeadlineSeconds < lease"),
        ("image.tag=", "/image/tag"),
        ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
        ("operator.prometheusUrl=prometheus:9090", "/operator/prometheusUrl"),
        # The operator refuses these at start; the schema used to let them through (a restart loop).
        ("operator.prometheusUrl=http://prom:9090/ x", "/operator/prometheusUrl"),
        ("operator.mlflowTrackingUri=http://mlflow:5000/ x", "/operator/mlflowTrackingUri"),
        # The chart's own pod label again: the pod template had the key twice, and helm lint passed it.
        (r"podLabels.app\.kubernetes\.io/name=x", "/podLabels/app.kubernetes.io~1name"),
        ("monitoring.podMonitor.interval=15", "/monitoring/podMonitor/interval"),
        ("monitoring.podMonitor.interval=", "/monitoring/podMonitor/interval"),
    ],
)
def test_values_schema_refuses_bad_values_naming_the_field(
    tools: ChartTools, setting: str, refusal: str
) -> None:
    with pytest.raises(AssertionError) as failure:
        run_tool(tools.helm, "template", "t", CHART, f"--set={setting}")
    assert refusal in str(failure.value)


def test_rendered_workloads_carry_no_wildcard_and_every_object_has_a_namespace_or_is_cluster_scoped(
    tools: ChartTools,
) -> None:
    rendered = run_tool(
        tools.helm, "template", "rel", CHART, "--namespace=ns", "--include-crds",
        *(f"--set={o}" for o in EVERY_OPTION),
    )  # fmt: skip
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
    for document in documents:
        namespaced = document["kind"] not in cluster_scoped
        assert ("namespace" in document["metadata"]) == namespaced, document["metadata"]
        for rule in document.get("rules", []):
            assert "*" not in json.dumps(rule), rule
    kinds = sorted(d["kind"] for d in documents)
    assert kinds.count("CustomResourceDefinition") == 3
