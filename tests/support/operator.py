"""Run the real operator (Kopf handlers in a thread) against the local cluster, and install its CRDs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kopf.testing import KopfRunner

from tests.support.kube_cli import Kubectl
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
T = TypeVar("T")


def install_crds(kubectl: Kubectl) -> None:
    """Apply crds/ and wait until the API server serves them."""
    kubectl.apply_files(*sorted(CRD_DIR.glob("*.yaml")))
    for path in sorted(CRD_DIR.glob("*.yaml")):
        name = path.name.removesuffix(".yaml")
        kubectl.run("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@contextmanager
def running_operator(
    kubeconfig: Path, namespace: str | None = None, prometheus_url: str | None = None
) -> Iterator[KopfRunner]:
    """The operator exactly as `ferryman operator` runs it, watching one namespace or all."""
    os.environ["KUBECONFIG"] = str(kubeconfig)
    if prometheus_url:
        os.environ["FERRYMAN_PROMETHEUS_URL"] = prometheus_url
    os.environ["FERRYMAN_LIVENESS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}/healthz"
    if namespace:
        os.environ["FERRYMAN_NAMESPACES"] = json.dumps([namespace])
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    args = ["run", "--standalone", "--verbose", *scope, "-m", "ferryman.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    os.environ.pop("FERRYMAN_NAMESPACES", None)
    os.environ.pop("FERRYMAN_PROMETHEUS_URL", None)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.5) -> T:
    """Poll until probe returns something truthy; fail with `what` when time runs out."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last seen: {last!r})")
