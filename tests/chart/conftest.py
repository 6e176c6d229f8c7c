"""The chart tier: helm, helm-unittest and promtool built from the Go module proxy (cached)."""

from __future__ import annotations

import pytest

from ferryman_testing.chart_tools import ChartTools, install_chart_tools


@pytest.fixture(scope="session")
def tools() -> ChartTools:
    return install_chart_tools()
