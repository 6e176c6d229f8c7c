"""Canary rollouts end to end: real serving pods, Traefik weights, Prometheus analysis, the operator."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    canary,
    events,
    host_of,
    serving_processes,
    wait_for_rollout_end,
    wait_until_serving,
)

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.bad_models import make_failing_model, make_slow_model
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.load import steady_load
from ferryman_testing.model_deployments import status_of
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import ferryman, running_operator
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.prometheus import PrometheusServer
from ferryman_testing.traefik import Gateway

# A stable version to serve (<= 120 s), then a whole rollout (<= 150 s) in one test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """file:// URIs of a stable model, a healthy new version, and the harness's bad candidates."""
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri(),
        "v2": make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri(),
        "failing": make_failing_model(root / "failing" / "model.onnx").as_uri(),
        # Well over the tests' 50ms p99 limit on every request, on a busy machine or an idle one.
        "slow": make_slow_model(root / "slow" / "model.onnx", size=2400).as_uri(),
        "missing": (root / "missing" / "model.onnx").as_uri(),
    }


def deploy_stable(
    kubectl: Kubectl, namespace: str, gateway: Gateway, uri: str, strategy: dict[str, Any]
) -> None:
    apply_model(kubectl, namespace, gateway, uri, strategy)
    wait_until_serving(kubectl, namespace, uri, gateway)


def seconds_since(timestamp: str) -> float:
    """Seconds from a status timestamp (the operator's clock: this machine's) until now."""
    return (datetime.now(UTC) - datetime.fromisoformat(timestamp)).total_seconds()


def test_healthy_canary_is_promoted_through_all_steps(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """Every step passes analysis; the new version becomes stable and serves all traffic."""
    strategy = canary([20, 50])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)
        weights_seen = set()

        def promoted() -> dict[str, Any] | None:
            status = status_of(kubectl, namespace)
            weights_seen.add(status.get("canaryWeight"))
            return (
                status
                if status.get("phase") == "Succeeded" and status.get("stableUri") == models["v2"]
                else None
            )

        status = wait_for("v2 promoted", promoted, timeout=150)
        report = load.stop()
    assert status["phase"] == "Succeeded", status
    assert {20, 50} <= weights_seen
    assert report.errors == 0, report
    new_version = status["stableVersion"]
    assert report.versions[new_version] > 0
    assert events(kubectl, namespace, "Promoted")
    # The route carries the inference API only: the pods' /metrics is Prometheus's, not the users'.
    with httpx.Client(base_url=gateway.base_url, headers=host_of(namespace), timeout=5) as client:
        ready, hidden = client.get("/v2/health/ready"), client.get("/metrics")
    assert ready.status_code == 200, ready.text
    assert hidden.status_code == 404 and "ferryman_" not in hidden.text, hidden.text[:300]


def test_canary_with_errors_is_rolled_back(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A canary answering 5xx fails analysis against stable; weight returns to 0 and an Event says why."""
    strategy = canary([20, 50])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, models["failing"], strategy)
        status = wait_for_rollout_end(kubectl, namespace, models["failing"])
    assert status["phase"] == "RolledBack", status
    assert status["canaryWeight"] == 0
    assert status["stableUri"] == models["v1"]
    (message,) = events(kubectl, namespace, "RolledBack")
    assert "error rate" in message


def test_a_custom_query_prometheus_refuses_stops_the_rollout_naming_the_metric(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """rate() of an instant vector is a PromQL error: before, it counted as "metrics unavailable" (four
    failed reads, then Degraded "MetricsUnavailable" without the metric or Prometheus' reason)."""
    bad = {"name": "conv", "query": 'sum(rate(ferryman_requests_total{track="{{track}}"}))', "min": 0.1}
    strategy = canary([20, 50], metrics=[bad])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)
        status = wait_for_rollout_end(kubectl, namespace, models["v2"])
    assert status["phase"] == "Degraded" and status["endReason"] == "RolloutStopped", status
    assert status["canaryWeight"] == 0 and "rejectedVersion" not in status
    assert "spec.strategy.canary.analysis.metrics: 'conv': Prometheus refused its query" in status["message"]
    assert "range vector" in status["message"], status["message"]


def test_canary_with_high_latency_is_rolled_back(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A canary whose p99 is far above maxLatencyP99 and above stable's is rolled back."""
    strategy = canary([20, 50])
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, models["slow"], strategy)
        status = wait_for_rollout_end(kubectl, namespace, models["slow"])
    assert status["phase"] == "RolledBack", status
    assert status["canaryWeight"] == 0
    (message,) = events(kubectl, namespace, "RolledBack")
    assert "p99" in message


def test_errors_only_the_gateway_sees_roll_the_canary_back(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """The canary's pod stays Ready to its probes but refuses every connection from outside (as a broken
    network policy or sidecar would): Traefik answers users 502 for that backend, and no pod ever counts
    those. The error check reads the gateway's per-backend counts, so the canary is rolled back, with an
    Event that says it was measured at the gateway."""
    strategy = canary([50], interval="30s")
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)
        wait_for("canary at 50%", lambda: status_of(kubectl, namespace).get("canaryWeight") == 50, timeout=90)
        (pid, *_) = wait_for(
            "the canary's process", lambda: serving_processes(kubectl, namespace, "canary", models["v2"])
        )
        with refusing_outside_connections(pid, canary_pod_ip(kubectl, namespace)):
            status = wait_for_rollout_end(kubectl, namespace, models["v2"], timeout=60)
        report = load.stop()
    assert status["phase"] == "RolledBack", status
    assert report.codes[502] > 0, report  # users did see the gateway's errors
    assert status["lastAnalysis"]["errorSource"] == "gateway", status["lastAnalysis"]
    (message,) = events(kubectl, namespace, "RolledBack")
    assert "error rate" in message and "at the gateway" in message, message


def canary_pod_ip(kubectl: Kubectl, namespace: str) -> str:
    return kubectl.run("get", "pods", "-n", namespace, "-l", "ferryman.dev/track=canary",
                       "-o", "jsonpath={.items[0].status.podIP}")  # fmt: skip


@contextlib.contextmanager
def refusing_outside_connections(pid: int, pod_ip: str) -> Iterator[None]:
    """In the pod's network namespace, TCP resets for connections to pod_ip from any other address; the
    dev cluster's probes connect from inside (source pod_ip) and still pass."""
    netns = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True, check=True)
    in_pod = ["ip", "netns", "exec", netns.stdout.strip(), "nft"]
    rules = f"""table inet e2e_refuse {{
        chain input {{
            type filter hook input priority 0;
            ip daddr {pod_ip} ip saddr != {pod_ip} tcp dport 8080 reject with tcp reset
        }}
    }}
    """
    subprocess.run([*in_pod, "-f", "-"], input=rules, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run([*in_pod, "delete", "table", "inet", "e2e_refuse"], check=True)


def test_canary_that_never_gets_ready_fails_cleanly(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A model that cannot load keeps the canary unready; after progressDeadline the rollout is Degraded."""
    strategy = canary([20, 50])
    strategy["canary"]["progressDeadline"] = "15s"
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=10, headers=host_of(namespace)) as load:
        apply_model(kubectl, namespace, gateway, models["missing"], strategy)
        status = wait_for_rollout_end(kubectl, namespace, models["missing"], timeout=90)
        report = load.stop()
    assert status["phase"] == "Degraded", status
    assert status["canaryWeight"] == 0
    assert "progressDeadline" in status["message"]
    assert report.errors == 0, "no user request may reach a canary that is not Ready"


def test_low_traffic_waits_instead_of_rolling_back(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """Below minRequests the step waits: no traffic is not failure. (A canary whose errors are decisive
    is rolled back even below minRequests: the unit tier shows that rule.)"""
    strategy = canary([20, 50], minRequests=5000)
    interval = 3  # strategy's interval, in seconds
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=5, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)

        def five_intervals_at_first_step() -> dict[str, Any]:
            """Five windows' worth of time at weight 20: enough for failureLimit 2 to trip, were a
            window without enough traffic counted as a failure (a failure sign ends the wait early)."""
            status = status_of(kubectl, namespace)
            if status.get("failedChecks") or status.get("phase") in ("RolledBack", "Degraded"):
                return status
            started = status.get("stepStartedAt") if status.get("canaryWeight") == 20 else None
            if started and seconds_since(started) > 5 * interval + 1:  # + 1: timestamps are whole seconds
                return status
            raise NotYet(status)

        status = wait_for("five intervals at the first step", five_intervals_at_first_step, timeout=90)
    assert status["phase"] == "Progressing", status
    assert status["canaryWeight"] == 20
    assert status["failedChecks"] == 0
    assert status["lastVerdict"] == "Inconclusive"
    assert "not enough traffic" in status["message"]


def test_abort_returns_all_traffic_to_stable_at_once(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str],
    operator: KopfRunner,
) -> None:  # fmt: skip
    """`ferryman abort` mid-rollout: weight 0 in Traefik within seconds, phase RolledBack."""
    strategy = canary([20, 50, 80], interval="5s")
    deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)
        wait_for("weight 20", lambda: status_of(kubectl, namespace).get("canaryWeight") == 20, timeout=60)
        ferryman("abort", MODEL, "-n", namespace, kubeconfig=Path(cluster.kubeconfig))
        started = time.monotonic()
        gateway.wait_for_weights(namespace, MODEL, {f"{MODEL}-stable": 100, f"{MODEL}-canary": 0}, timeout=15)
        to_zero = time.monotonic() - started
        status = wait_for_rollout_end(kubectl, namespace, models["v2"], timeout=30)
    assert status["phase"] == "RolledBack"
    assert to_zero < 10
    assert "ferryman.dev/action" not in kubectl.get("modeldeployment", MODEL, namespace)["metadata"].get(
        "annotations", {}
    )


def test_operator_killed_mid_rollout_resumes(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str],
    prometheus: PrometheusServer, operator_kubeconfig: Path,
) -> None:  # fmt: skip
    """All rollout state is in .status: a new operator process finishes what the old one started."""
    install_crds(kubectl, *FERRYMAN_CRDS)
    strategy = canary([20, 50])
    kubeconfig = operator_kubeconfig
    with running_operator(kubeconfig, namespace, prometheus.url):
        deploy_stable(kubectl, namespace, gateway, models["v1"], strategy)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as load:
        with running_operator(kubeconfig, namespace, prometheus.url):
            apply_model(kubectl, namespace, gateway, models["v2"], strategy)
            wait_for("weight 20", lambda: status_of(kubectl, namespace).get("canaryWeight") == 20, timeout=60)
        paused_at = status_of(kubectl, namespace)

        def window_overdue() -> dict[str, Any]:
            """The analysis window open when the operator stopped would have ended (interval 3 s) and
            been acted on (one 2 s timer tick), had an operator been running."""
            status = status_of(kubectl, namespace)
            opened = status.get("windowStartedAt") or status["stepStartedAt"]
            if seconds_since(opened) > 3 + 2 + 1:  # + 1: timestamps are whole seconds
                return status
            raise NotYet(status)

        without_operator = wait_for("the open window to be overdue", window_overdue, timeout=30)
        assert without_operator["canaryWeight"] == paused_at["canaryWeight"], "no operator: nothing moves"
        with running_operator(kubeconfig, namespace, prometheus.url):
            status = wait_for_rollout_end(kubectl, namespace, models["v2"])
        report = load.stop()
    assert status["phase"] == "Succeeded", status
    assert status["rolloutStartedAt"] == paused_at["rolloutStartedAt"]
    assert report.errors == 0, report
