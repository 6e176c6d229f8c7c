"""The operator's own /metrics: the phase of each ModelDeployment, as the real API server reports it."""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner

from ferryman.listening import split_address
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_serving
from ferryman_testing.operator import operator_metrics, operator_process
from ferryman_testing.polling import wait_for
from ferryman_testing.raw_http import connect
from ferryman_testing.servers import free_port, open_files_soft_limit

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_the_operator_exports_each_model_deployments_phase(
    kubectl: Kubectl, namespace: str, model_uri: str, operator: KopfRunner
) -> None:
    kubectl.apply([model_deployment("fraud", namespace, model_uri)])
    wait_until_serving(kubectl, namespace)
    labels = f'model_deployment="fraud",namespace="{namespace}"'  # the exposition sorts labels
    succeeded = f'ferryman_rollout_phase{{{labels},phase="Succeeded"}} 1.0'
    exposition = wait_for(
        "the Succeeded phase on /metrics", lambda: succeeded in (text := operator_metrics()) and text
    )
    assert f'ferryman_rollout_phase{{{labels},phase="Progressing"}} 0.0' in exposition

    kubectl.delete("modeldeployment", "fraud", namespace, wait=True)
    wait_for("the series gone", lambda: labels not in operator_metrics())


def test_half_sent_requests_hold_no_thread_and_scrapes_still_answer(operator: KopfRunner) -> None:
    """Connections that never finish their request (a scanner, a slowloris) cost the operator no thread
    each, and a scrape beside 200 of them answers at once. prometheus_client's server gave each one a
    thread of the operator's process, for as long as it stayed open, and accepted ever more slowly."""
    _host, port = split_address(os.environ["FERRYMAN_METRICS_ADDRESS"])
    # Its startup may still be running.
    wait_for("the operator's /metrics", operator_metrics, tolerate=(OSError,))
    threads_before = threading.active_count()  # the operator runs in this process (KopfRunner)
    stalled = [connect(port) for _ in range(200)]
    try:
        for connection in stalled:
            connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        exposition = operator_metrics()
        took = time.monotonic() - started
        added_threads = threading.active_count() - threads_before
    finally:
        for connection in stalled:
            connection.close()
    assert "# HELP ferryman_rollout_phase" in exposition
    assert took < 2, f"a scrape beside stalled connections took {took:.1f} s"
    assert added_threads < 50, f"{added_threads} threads more with 200 stalled connections"


def test_only_the_metrics_path_is_served(operator: KopfRunner) -> None:
    """docs/metrics.md: other paths answer 404."""
    wait_for("the operator's /metrics", operator_metrics, tolerate=(OSError,))
    address = os.environ["FERRYMAN_METRICS_ADDRESS"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{address}/", timeout=5)
    assert refused.value.code == 404


def test_many_idle_connections_do_not_lock_the_operator_out(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    """`ferryman operator` started with a soft limit of 128 open files, then 300 silent connections to its
    /metrics port (no login needed there): it still answers a scrape, because it raises its soft limit
    to the hard one. At 128 it could open no socket of its own (API server, Prometheus, MLflow) and the
    scrape timed out."""
    idle = 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < idle + 200 or soft < idle + 50:
        pytest.skip(f"needs open-files limits above {idle + 200} (hard) and {idle + 50} (soft here)")
    port = free_port()
    settings = {"FERRYMAN_METRICS_ADDRESS": f"127.0.0.1:{port}"}
    url = f"http://127.0.0.1:{port}/metrics"
    with ExitStack() as stack:
        with open_files_soft_limit(128):  # the process inherits it
            stack.enter_context(operator_process(Path(cluster.kubeconfig), "http://127.0.0.1:9",
                                                 tmp_path / "operator.log", namespace=namespace,
                                                 settings=settings))  # fmt: skip
        wait_for("the operator's /metrics", lambda: httpx.get(url, timeout=2).status_code == 200,
                 timeout=60, tolerate=(httpx.HTTPError,))  # fmt: skip
        for _ in range(idle):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        answer = httpx.get(url, timeout=5)
    assert answer.status_code == 200 and "ferryman_" in answer.text
