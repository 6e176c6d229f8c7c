"""Where the e2e tools are (asks scripts/install-e2e-tools, idempotent and cached)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ferryman_testing import REPO_ROOT

INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-e2e-tools"
INSTALL_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class E2ETools:
    prometheus: Path
    traefik: Path
    gateway_api_crds: Path  # a directory of CRD yaml files (Gateway API standard channel)
    traefik_crds: Path  # one yaml file with Traefik's CRDs (TraefikService, Middleware, ...)
    keda_crds: Path  # KEDA's ScaledObject CRD (one yaml file)


def run_install_script(script: Path, timeout: float = INSTALL_TIMEOUT_SECONDS) -> dict[str, str]:
    """Run an install script (a no-op when everything is cached); the KEY=VALUE lines it prints."""
    # Bounded like every fixture (tests time only their bodies): a cold Prometheus build took 12 min.
    result = subprocess.run([str(script)], capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def install_e2e_tools() -> E2ETools:
    """The e2e tools, built or found in the cache by scripts/install-e2e-tools."""
    values = run_install_script(INSTALL_SCRIPT)
    tools = E2ETools(
        prometheus=Path(values["PROMETHEUS"]),
        traefik=Path(values["TRAEFIK"]),
        gateway_api_crds=Path(values["GATEWAY_API_CRDS"]),
        traefik_crds=Path(values["TRAEFIK_CRDS"]),
        keda_crds=Path(values["KEDA_CRDS"]),
    )
    paths = (tools.prometheus, tools.traefik, tools.gateway_api_crds, tools.traefik_crds, tools.keda_crds)
    for path in paths:
        if not path.exists():
            raise RuntimeError(f"{INSTALL_SCRIPT} reported {path}, which does not exist")
    return tools
