"""The operator's own /metrics: the phase of each ModelDeployment, as the real API server reports it."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request

import pytest
from kopf.testing import KopfRunner

from ferryman.listening import split_address
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import wait_until_serving
from ferryman_testing.operator import operator_metrics
from ferryman_testing.polling import wait_for
from ferryman_testing.raw_http import connect

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
