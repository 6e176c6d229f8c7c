"""Where the chart tools are (asks scripts/install-chart-tools, idempotent and cached), and the chart."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ferryman_testing import REPO_ROOT
from ferryman_testing.e2e_tools import run_install_script

INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-chart-tools"
CHART = REPO_ROOT / "charts" / "ferryman"


@dataclass(frozen=True)
class ChartTools:
    helm: Path
    unittest: Path  # helm-unittest's `untt`, run directly
    promtool: Path


@functools.cache
def install_chart_tools() -> ChartTools:
    """The chart tools, built or found in the cache by scripts/install-chart-tools."""
    values = run_install_script(INSTALL_SCRIPT)
    tools = ChartTools(Path(values["HELM"]), Path(values["UNITTEST"]), Path(values["PROMTOOL"]))
    for path in (tools.helm, tools.unittest, tools.promtool):
        if not path.is_file():
            raise RuntimeError(f"{INSTALL_SCRIPT} reported {path}, which does not exist")
    return tools


def run_tool(*args: str | Path, timeout: float = 120) -> str:
    """Run a tool; its combined output, or an AssertionError showing it when it fails."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{output}"
    return output
