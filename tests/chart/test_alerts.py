"""The PrometheusRule's rules: promtool checks them and runs their unit tests (prometheus_rules_test.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferryman_testing.chart_tools import CHART, ChartTools, run_tool

pytestmark = pytest.mark.chart

RULES = CHART / "files" / "prometheus-rules.yaml"
RULE_TESTS = Path(__file__).with_name("prometheus_rules_test.yaml")


def test_promtool_accepts_the_rules(tools: ChartTools) -> None:
    output = run_tool(tools.promtool, "check", "rules", RULES)
    assert "SUCCESS: 8 rules found" in output


def test_each_alert_fires_when_it_should_and_only_then(tools: ChartTools) -> None:
    output = run_tool(tools.promtool, "test", "rules", RULE_TESTS)
    assert "SUCCESS" in output
