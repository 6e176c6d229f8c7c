"""Argo CD health checks (gitops/argocd/*.lua) run with lupa.

ModelDeployment and TrainingJob fixtures are real objects captured from the cluster tier
(tests/cluster/test_argocd_health.py, tests/cluster/test_training_job.py with
FERRYMAN_CAPTURE_ARGOCD_FIXTURES=tests/chart/argocd_fixtures). DriftMonitor objects are not captured yet:
they are built here and validated against its API model (ferryman.api.driftmonitor) instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferryman.api.driftmonitor import DriftMonitorStatus
from ferryman_testing.argocd_health import FIXTURES, health

pytestmark = pytest.mark.chart

CAPTURED = sorted(FIXTURES.glob("*.json"))


def _fixture(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_a_captured_object_shows_the_health_it_had_in_the_cluster(path: Path) -> None:
    fixture = _fixture(path)
    shown = health(fixture["object"])
    assert shown.status == fixture["expected"]
    assert shown.message, "Argo CD shows the message; an empty one says nothing to the on-call engineer"


def test_the_captured_fixtures_cover_every_phase_the_cluster_tier_reaches() -> None:
    phases = {(f["object"]["kind"], f["object"]["status"]["phase"]) for f in map(_fixture, CAPTURED)}
    for phase in ("Succeeded", "Paused", "RolledBack", "Degraded"):
        assert ("ModelDeployment", phase) in phases
    for phase in ("Succeeded", "Rejected", "Failed", "AwaitingApproval"):
        assert ("TrainingJob", phase) in phases


def test_a_training_schedule_is_healthy_and_says_when_it_runs_next() -> None:
    status = {
        "phase": "Scheduled",
        "message": "run nightly-29928499 in progress; next run at 2026-11-27T03:00:00Z",
    }
    shown = health({"kind": "TrainingJob", "metadata": {"generation": 1}, "status": status})
    assert shown.status == "Healthy" and "next run at" in shown.message


@pytest.mark.parametrize("kind", ["ModelDeployment", "TrainingJob", "DriftMonitor"])
def test_an_object_the_operator_has_not_seen_yet_is_progressing(kind: str) -> None:
    assert health({"kind": kind, "metadata": {"generation": 1}}).status == "Progressing"


@pytest.mark.parametrize("phase", ["Pending", "Progressing", "Promoting"])
def test_a_rollout_under_way_is_progressing(phase: str) -> None:
    md = {"kind": "ModelDeployment", "metadata": {"generation": 1}, "status": {"phase": phase}}
    assert health(md).status == "Progressing"


def test_a_succeeded_rollout_whose_stable_pods_went_unready_is_progressing_with_why() -> None:
    ready = {"type": "Ready", "status": "False", "message": "0/2 stable pods ready"}
    status = {"phase": "Succeeded", "observedGeneration": 1, "conditions": [ready]}
    shown = health({"kind": "ModelDeployment", "metadata": {"generation": 1}, "status": status})
    assert shown == type(shown)("Progressing", "0/2 stable pods ready")


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Pending", "Progressing"),
        ("Collecting", "Progressing"),
        ("Retraining", "Progressing"),
        ("Healthy", "Healthy"),
        ("Drifted", "Degraded"),
        ("Degraded", "Degraded"),
    ],
)
def test_drift_monitor_phases(phase: str, expected: str) -> None:
    status = DriftMonitorStatus.model_validate(
        {
            "phase": phase,
            "message": f"monitor {phase}",
            "driftedFeatures": ["amount"] if phase == "Drifted" else [],
        }
    ).model_dump(by_alias=True, exclude_none=True)
    shown = health({"kind": "DriftMonitor", "metadata": {"generation": 1}, "status": status})
    assert shown.status == expected and shown.message == f"monitor {phase}"
