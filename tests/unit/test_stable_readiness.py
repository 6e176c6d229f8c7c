"""What a stable Deployment's event writes to its owner's status, decided without the API server."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.builders.naming import LABEL_VERSION
from ferryman.handlers.stable_readiness import StableReport

pytestmark = pytest.mark.unit

OWNER_REF = {"apiVersion": "ferryman.dev/v1alpha1", "kind": "ModelDeployment", "name": "fraud",
             "uid": "u1", "controller": True}  # fmt: skip


def deployment(
    ready: int, *, name: str = "fraud-stable", owner: dict[str, Any] = OWNER_REF
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1, "ownerReferences": [owner]},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {LABEL_VERSION: "7"}}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": ready},
    }


def report(ready: int) -> StableReport:
    found = StableReport.of(deployment(ready))
    assert found is not None
    return found


def test_only_the_stable_deployment_of_its_controller_reports() -> None:
    assert StableReport.of(deployment(1, name="fraud-canary")) is None
    assert StableReport.of(deployment(1, owner=OWNER_REF | {"controller": False})) is None
    assert report(1).owner_uid == "u1"


def test_before_the_first_reconcile_reports_a_not_ready_deployment_is_left_to_it() -> None:
    assert report(0).status_changes({"status": {}}) is None
    assert (report(1).status_changes({"status": {}}) or {}).get("phase") == "Succeeded"


def test_a_status_that_shows_the_report_already_needs_no_write() -> None:
    ready = report(1)
    written = {"status": ready.status_changes({"status": {"phase": "Pending", "observedGeneration": 1}})}
    assert ready.status_changes(written) == {}
    assert report(0).status_changes(written)  # the pod went away: Ready goes back to False


def test_during_a_rollout_only_the_replica_counts_are_written() -> None:
    rolling = {"status": {"phase": "Progressing", "replicas": 0, "desiredReplicas": 1}}
    assert report(1).status_changes(rolling) == {"replicas": 1}
