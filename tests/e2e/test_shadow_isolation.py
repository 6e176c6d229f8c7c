"""A shadow candidate never touches users: unready, deleted or flapping, users get stable's 200s.

With `mirrorWith: TraefikService`, Traefik drops the mirroring TraefikService whenever the candidate's
Service has no Ready endpoint (`no servers found`). Users once got 404s then, because that TraefikService was
the route's only backend (issue 16). Each scenario checks that Traefik really dropped the mirror while users
were being served, so that it cannot pass without exercising the failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    host_of,
    serving_processes,
    status_of,
    wait_for_phase,
    wait_until_serving,
)

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import LoadGenerator, LoadReport, steady_load
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.polling import wait_for
from ferryman_testing.traefik import Gateway

# Each scenario deploys stable, starts a shadow and breaks it under load.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

USER_RATE = 20  # requests per second through the Gateway, as in the incident
ANALYSIS = {"minRequests": 10, "failureLimit": 2, "maxLatencyP99": "200ms"}


def shadow(progress_deadline: str = "5m", analysis: dict[str, Any] = ANALYSIS) -> dict[str, Any]:
    """Mirror everything for longer than a test runs: the candidate stays in shadow throughout."""
    return {
        "shadow": {
            "mirrorPercent": 100,
            "duration": "10m",
            "interval": "3s",
            "progressDeadline": progress_deadline,
            "analysis": analysis,
        }
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("isolation-models")
    broken = root / "broken" / "model.onnx"
    broken.parent.mkdir()
    broken.write_bytes(b"not an ONNX model: the server can never load it, so it never becomes Ready")
    return {
        "v1": make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri(),
        "v2": make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri(),
        "broken": broken.as_uri(),
    }


def apply(
    kubectl: Kubectl, namespace: str, gateway: Gateway, uri: str, strategy: dict[str, Any],
    serving: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    apply_model(kubectl, namespace, gateway, uri, strategy, serving, mirrorWith="TraefikService")


def mirror_live(gateway: Gateway, namespace: str) -> bool:
    """Traefik has the rollout's mirroring service in force (dropped while the candidate has no endpoint)."""
    name = f"{namespace}-{MODEL}-mirror@kubernetescrd"
    found = gateway.traefik.api_list("/api/http/services", search=f"{namespace}-{MODEL}-mirror")
    return any(s["name"] == name and s.get("status") == "enabled" for s in found)


def wait_mirror(gateway: Gateway, namespace: str, live: bool, timeout: float, why: str) -> None:
    wait_for(why, lambda: mirror_live(gateway, namespace) is live, timeout=timeout)


@contextmanager
def users_during_shadow(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], candidate: str,
    strategy: dict[str, Any], serving: dict[str, Any] | None = None,
) -> Iterator[LoadGenerator]:  # fmt: skip
    """Stable serves v1; steady user load runs while `candidate` is rolled out as a shadow."""
    apply(kubectl, namespace, gateway, models["v1"], strategy, serving)
    wait_until_serving(kubectl, namespace, models["v1"], gateway)
    with steady_load(gateway.base_url, MODEL, rate=USER_RATE, headers=host_of(namespace)) as users:
        apply(kubectl, namespace, gateway, candidate, strategy, serving)
        yield users


def assert_users_untouched(report: LoadReport, stable: str, seconds: float) -> None:
    """Every user request answered 200 by stable: no 404 from a vanished route, no 5xx, no timeout."""
    assert report.total >= USER_RATE * seconds * 0.5, f"too little load to judge: {report}"
    assert report.failures == 0 and set(report.codes) == {200}, report
    assert set(report.versions) == {stable}, report


def test_candidate_that_never_becomes_ready_never_reaches_users(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A candidate that cannot load its model gets no mirror, users keep stable, and the rollout ends
    Degraded at its progress deadline with a message that says why."""
    strategy = shadow(progress_deadline="20s")
    with users_during_shadow(kubectl, namespace, gateway, models, models["broken"], strategy) as users:
        stable = status_of(kubectl, namespace)["stableVersion"]
        status = wait_for_phase(kubectl, namespace, "Degraded", timeout=120)
        report = users.stop()
    assert_users_untouched(report, stable, seconds=20)
    assert "ready" in status["message"].lower(), status
    assert not mirror_live(gateway, namespace)


def test_candidate_deleted_mid_shadow_never_reaches_users(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """Deleting the candidate's Deployment (and so its pods) mid-shadow: Traefik drops the mirror, users
    keep getting stable's answers, and mirroring resumes once the operator has recreated the candidate."""
    with users_during_shadow(kubectl, namespace, gateway, models, models["v2"], shadow()) as users:
        stable = status_of(kubectl, namespace)["stableVersion"]
        wait_mirror(gateway, namespace, live=True, timeout=90, why="the shadow's mirror in force")
        kubectl.delete("deployment", f"{MODEL}-canary", namespace)
        wait_mirror(gateway, namespace, live=False, timeout=30, why="Traefik to drop the deleted candidate")
        wait_mirror(
            gateway, namespace, live=True, timeout=90, why="the mirror back with a recreated candidate"
        )
        report = users.stop()
    assert_users_untouched(report, stable, seconds=10)
    assert status_of(kubectl, namespace)["phase"] in ("Progressing", "Paused")


def test_candidate_flapping_readiness_never_reaches_users(
    kubectl: Kubectl, namespace: str, gateway: Gateway, models: dict[str, str], operator: KopfRunner
) -> None:
    """A candidate that stops answering (frozen with SIGSTOP, as a saturated one would) goes unready and
    back, three times: each time Traefik drops and restores the mirror, and users never notice.

    While frozen, the candidate's mirrored requests wait in its listen backlog (about 20 a second until
    Traefik drops the mirror, 6-8 s); on SIGCONT it accepts them all at once, and past its in-flight limit
    (64 by default) it would answer 503, which the judge rightly counts against it. And the 120-160 requests
    of that backlog queue for its one worker: on a loaded 2-core machine the last of them waited 0.4 s or
    more (a run where 72 of 147 took over 200 ms was rolled back for latency, again rightly). Readiness
    flapping, not overload, is what this test is about, so the limit is raised above that backlog and the
    latency limit above its queueing time here."""
    serving = {"replicas": 1, "env": [{"name": "FERRYMAN_MAX_INFLIGHT_REQUESTS", "value": "1000"}]}
    strategy = shadow(analysis={**ANALYSIS, "maxLatencyP99": "5s"})
    with users_during_shadow(kubectl, namespace, gateway, models, models["v2"], strategy, serving) as users:
        stable = status_of(kubectl, namespace)["stableVersion"]
        for _ in range(3):
            wait_mirror(gateway, namespace, live=True, timeout=90, why="the shadow's mirror in force")
            pids = wait_for(
                "the candidate's serving process",
                lambda: serving_processes(kubectl, namespace, "canary", models["v2"]),
            )
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                wait_mirror(
                    gateway, namespace, live=False, timeout=30, why="Traefik to drop the frozen candidate"
                )
            finally:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):  # restarted meanwhile: nothing to wake
                        os.kill(pid, signal.SIGCONT)
        wait_mirror(gateway, namespace, live=True, timeout=90, why="the mirror back after the last flap")
        report = users.stop()
    assert_users_untouched(report, stable, seconds=30)
    assert status_of(kubectl, namespace)["phase"] in ("Progressing", "Paused")
