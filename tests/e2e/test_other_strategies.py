"""Blue-green, shadow and A/B rollouts end to end, through Traefik, with Prometheus analysis."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    events,
    host_of,
    status_of,
    wait_for_phase,
    wait_for_rollout_end,
    wait_until_serving,
)

from ferryman_testing.bad_models import make_failing_model
from ferryman_testing.cluster import DevCluster
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import infer_body, steady_load
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import ferryman
from ferryman_testing.polling import wait_for
from ferryman_testing.traefik import Gateway

# A stable version to serve (<= 120 s), then a whole rollout (<= 120 s) in one test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

FAST_ANALYSIS = {"minRequests": 10, "failureLimit": 2, "maxLatencyP99": "40ms"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri(),
        "v2": make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri(),
        "failing": make_failing_model(root / "failing" / "model.onnx").as_uri(),
    }


def canary_pod_ip(kubectl: Kubectl, namespace: str) -> str:
    def ready_ip() -> str | None:
        pods = kubectl.run("get", "pods", "-n", namespace, "-l", "ferryman.dev/track=canary",
                           "-o", "jsonpath={.items[*].status.podIP}")  # fmt: skip
        return pods.split()[0] if pods.strip() else None

    return wait_for("a canary pod IP", ready_ip, timeout=60)


def test_blue_green_preview_then_promote(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str],
    operator: KopfRunner,
) -> None:  # fmt: skip
    """Users stay on blue while green is analysed on preview traffic; `ferryman promote` switches at once."""
    strategy = {"blueGreen": {"interval": "3s", "analysis": FAST_ANALYSIS}}
    apply_model(kubectl, namespace, gateway, models["v1"], strategy)
    blue = wait_until_serving(kubectl, namespace, models["v1"], gateway)["stableVersion"]
    with steady_load(gateway.base_url, MODEL, rate=10, headers=host_of(namespace)) as users:
        apply_model(kubectl, namespace, gateway, models["v2"], strategy)
        preview = f"http://{canary_pod_ip(kubectl, namespace)}:8080"
        # Smoke traffic on the preview only. Beside users on stable the stage passes after ~750
        # clean preview requests (docs/rollouts.md, Blue-green): 40/s gets there in ~20 s, where
        # 10/s left a slow run a few seconds short of the timeout.
        with steady_load(preview, MODEL, rate=40):
            waiting = wait_for_phase(kubectl, namespace, "Paused", timeout=90)
        before_switch = users.snapshot()
        ferryman("promote", MODEL, "-n", namespace, kubeconfig=Path(cluster.kubeconfig))
        status = wait_for_rollout_end(kubectl, namespace, models["v2"], timeout=90)
        green = status["stableVersion"]
        wait_for("users answered by green", lambda: green in users.snapshot().versions, timeout=30)
        report = users.stop()
    assert waiting["pauseReason"] == "AwaitingPromotion"
    assert set(before_switch.versions) == {blue}, "users must not see green before the switch"
    assert status["phase"] == "Succeeded"
    assert len(report.versions) == 2 and report.errors == 0, report


def test_shadow_leaves_client_responses_untouched(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A failing candidate in shadow: mirrored requests fail, clients only ever see stable's 200s, and the
    candidate is rolled back on its own metrics."""
    strategy = {
        "shadow": {"mirrorPercent": 100, "duration": "30s", "interval": "3s", "analysis": FAST_ANALYSIS}
    }
    apply_model(kubectl, namespace, gateway, models["v1"], strategy, mirrorWith="TraefikService")
    stable = wait_until_serving(kubectl, namespace, models["v1"], gateway)["stableVersion"]
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)) as users:
        apply_model(kubectl, namespace, gateway, models["failing"], strategy, mirrorWith="TraefikService")
        status = wait_for_rollout_end(kubectl, namespace, models["failing"], timeout=120)
        report = users.stop()
    assert status["phase"] == "RolledBack", status
    assert report.errors == 0 and set(report.versions) == {stable}, report
    assert status["lastAnalysis"]["canaryRequests"] > 0, "the candidate saw the mirrored requests"
    assert events(kubectl, namespace, "RolledBack")


def test_ab_header_routes_matching_requests_to_the_candidate(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """Requests with x-variant: b reach the candidate; all others stay on stable."""
    match = [{"headers": [{"name": "x-variant", "value": "b"}]}]
    strategy = {"abTest": {"match": match, "interval": "3s", "analysis": FAST_ANALYSIS}}
    apply_model(kubectl, namespace, gateway, models["v1"], strategy)
    stable = wait_until_serving(kubectl, namespace, models["v1"], gateway)["stableVersion"]
    apply_model(kubectl, namespace, gateway, models["v2"], strategy)
    wait_for(
        "A/B traffic to start", lambda: status_of(kubectl, namespace).get("trafficStartedAt"), timeout=90
    )
    candidate = status_of(kubectl, namespace)["canaryVersion"]

    def versions(headers: dict[str, str]) -> set[str]:
        """Which versions answer 20 requests (or which HTTP errors, while the route is not live yet)."""
        with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
            answers = [
                client.post(
                    f"/v2/models/{MODEL}/infer", json=infer_body(), headers={**host_of(namespace), **headers}
                )
                for _ in range(20)
            ]
        return {
            a.json()["model_version"] if a.status_code == 200 else f"HTTP {a.status_code}" for a in answers
        }

    wait_for("the header rule in force", lambda: versions({"x-variant": "b"}) == {candidate}, timeout=20)
    assert versions({}) == {stable}
    assert versions({"x-variant": "a"}) == {stable}
