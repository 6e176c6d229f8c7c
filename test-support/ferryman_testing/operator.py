"""Run the real operator against the local cluster: in this process (Kopf handlers in a thread, for
tests) or as the `ferryman operator` command a user runs (for the demo and benchmarks); and the
`ferryman` command line itself."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from kopf.testing import KopfRunner

from ferryman.k8s.client import forget_connection
from ferryman_testing.servers import free_port, stop_process

FERRYMAN_CLI = Path(sys.executable).parent / "ferryman"


def operator_metrics() -> str:
    """The text of the in-process operator's /metrics (running_operator gives it a port of its own)."""
    address = os.environ["FERRYMAN_METRICS_ADDRESS"]
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


@contextmanager
def running_operator(
    kubeconfig: Path,
    namespace: str | None = None,
    prometheus_url: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[KopfRunner]:
    """The operator exactly as `ferryman operator` runs it, watching one namespace or all; `settings`
    are more FERRYMAN_* variables for this run."""
    extra = dict(settings or {})
    # The handlers' own API client is built once per process from KUBECONFIG: build it again from this
    # run's kubeconfig (the chart's ServiceAccount in most tests), and again for the next run.
    forget_connection()
    os.environ.update(extra)
    os.environ["KUBECONFIG"] = str(kubeconfig)
    if prometheus_url:
        os.environ["FERRYMAN_PROMETHEUS_URL"] = prometheus_url
    os.environ["FERRYMAN_LIVENESS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}/healthz"
    # A port of its own: another test session's operator may hold the default one. Kept for the process:
    # each in-process operator serves its metrics there and frees the port when it stops.
    os.environ.setdefault("FERRYMAN_METRICS_ADDRESS", f"127.0.0.1:{free_port()}")
    if namespace:
        os.environ["FERRYMAN_NAMESPACES"] = json.dumps([namespace])
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    args = ["run", "--standalone", "--verbose", *scope, "-m", "ferryman.handlers"]
    refusals = RbacRefusals()
    logging.getLogger().addHandler(refusals)
    try:
        with KopfRunner(args, timeout=60) as runner:
            yield runner
    finally:  # the next test's operator must not inherit this one's settings or credentials
        logging.getLogger().removeHandler(refusals)
        forget_connection()
        for name in ("FERRYMAN_NAMESPACES", "FERRYMAN_PROMETHEUS_URL", "FERRYMAN_METRICS_ADDRESS", *extra):
            os.environ.pop(name, None)
    # Kopf retries or works around some refusals (a Namespace list, a watch) and logs them: any refusal of
    # the ServiceAccount is a verb the chart's RBAC lacks, and fails the test even when it went on.
    assert not refusals.messages, f"the operator was refused by RBAC: {refusals.messages[0]}"


class RbacRefusals(logging.Handler):
    """Collects log messages in which the API server refused a ServiceAccount (RBAC, not a namespace
    that is being deleted)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if 'is forbidden: User "system:serviceaccount:' in message:
            self.messages.append(message[:500])


@contextmanager
def operator_process(
    kubeconfig: Path,
    prometheus_url: str,
    log: Path,
    *,
    namespace: str,
    settings: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`ferryman operator`, as a user runs it, in its own process, watching one namespace; `settings` are
    more FERRYMAN_* variables. Yields the process (a test may kill it)."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FERRYMAN_NAMESPACES": json.dumps([namespace]),
        "FERRYMAN_PROMETHEUS_URL": prometheus_url,
        "FERRYMAN_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
        "FERRYMAN_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        **(settings or {}),  # last: a test may choose e.g. the liveness address it probes
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(FERRYMAN_CLI), "operator"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    print(f"   operator log: {log}")
    try:
        yield process
    finally:
        stop_process(process, timeout=30)


def ferryman(*args: str, kubeconfig: Path) -> str:
    """The `ferryman` command line, as a user runs it; its stdout (a non-zero exit raises)."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [str(FERRYMAN_CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout
