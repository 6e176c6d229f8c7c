"""Status is a pure function of what we know; it must not change when nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ferryman.api.modeldeployment import ModelDeploymentStatus
from ferryman.api.trainingjob import TrainingJobStatus
from ferryman.builders.serving_status import invalid_spec_status, serving_status
from ferryman.builders.status import DeploymentReadiness, condition, status_patch
from ferryman.builders.training_phase import training_status

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def deployment(want: int, ready: int, updated: int | None = None, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": want},
        "status": {
            "observedGeneration": 1,
            "replicas": want,
            "readyReplicas": ready,
            "updatedReplicas": want if updated is None else updated,
        },
    }


def test_deployment_ready_only_when_every_updated_replica_is_ready() -> None:
    """Ready means all wanted replicas run the current template and pass readiness."""
    assert DeploymentReadiness.of(deployment(2, 2)).ready
    assert not DeploymentReadiness.of(deployment(2, 1)).ready
    assert not DeploymentReadiness.of(deployment(2, 2, updated=1)).ready
    assert not DeploymentReadiness.of(deployment(2, 2, generation=2)).ready
    assert not DeploymentReadiness.of(None).ready


def test_a_deployment_that_wants_no_replicas_is_ready_once_its_pods_are_gone() -> None:
    """serving.replicas 0 (batch only): nothing to wait for, so not Pending for ever (and no stuck alert)."""
    assert DeploymentReadiness.of(deployment(0, 0)) == DeploymentReadiness(True, "0/0 replicas ready")
    terminating = deployment(0, 0)
    terminating["status"]["replicas"] = 1
    assert not DeploymentReadiness.of(terminating).ready


def test_a_starting_deployment_reads_the_same_until_a_replica_is_ready() -> None:
    """Not yet observed, observed with no pods, pods created: one message while nothing serves, so the
    status is written once for the start, not once per step of pod creation."""
    new = {"metadata": {"generation": 1}, "spec": {"replicas": 2}}
    observed = new | {"status": {"observedGeneration": 1}}
    pods_created = new | {"status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2}}
    readiness = {DeploymentReadiness.of(d) for d in (new, observed, pods_created)}
    assert readiness == {DeploymentReadiness(False, "0/2 replicas ready")}
    serving_one = DeploymentReadiness(False, "1/2 replicas ready, 2 updated, 2 total")
    assert DeploymentReadiness.of(deployment(2, 1)) == serving_one


def test_condition_keeps_its_transition_time_while_status_holds() -> None:
    """A resync that recomputes the same condition must not rewrite lastTransitionTime."""
    first = condition("Ready", "True", "StableReady", "ok", now=T0, previous=None)
    later = condition("Ready", "True", "StableReady", "ok", now=T0 + timedelta(hours=1), previous=[first])
    flipped = condition("Ready", "False", "Down", "no", now=T0 + timedelta(hours=2), previous=[later])
    assert later["lastTransitionTime"] == first["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert flipped["lastTransitionTime"] == "2026-01-02T05:04:05Z"


def test_recomputing_status_later_yields_an_empty_patch() -> None:
    """Zero writes on resync: the same facts an hour later produce nothing to patch."""
    ready = DeploymentReadiness.of(deployment(1, 1))
    args = {"generation": 1, "stable_version": "7", "stable_uri": "models:/m/7", "stable": ready}
    first = serving_status(previous=None, now=T0, **args)
    again = serving_status(previous=first, now=T0 + timedelta(hours=1), **args)
    assert status_patch(first, again) == {}


def test_pending_until_the_stable_pods_are_ready() -> None:
    """Phase and Ready follow the stable Deployment."""
    pending = serving_status(
        previous=None,
        generation=1,
        stable_version="7",
        stable_uri="u",
        stable=DeploymentReadiness.of(deployment(1, 0)),
        now=T0,
    )
    assert pending["phase"] == "Pending"
    ready_condition = next(c for c in pending["conditions"] if c["type"] == "Ready")
    assert ready_condition["status"] == "False"


def test_invalid_spec_is_degraded_but_keeps_ready_if_it_was() -> None:
    """A bad edit marks Degraded and names the field; the old version still serves."""
    good = serving_status(
        previous=None,
        generation=1,
        stable_version="7",
        stable_uri="u",
        stable=DeploymentReadiness.of(deployment(1, 1)),
        now=T0,
    )
    bad = invalid_spec_status(previous=good, generation=2, message="spec.model.uri: bad scheme", now=T0)
    conditions = {c["type"]: c for c in bad["conditions"]}
    assert bad["phase"] == "Degraded"
    assert conditions["Degraded"]["status"] == "True"
    assert "spec.model.uri" in conditions["Degraded"]["message"]
    assert conditions["Ready"]["status"] == "True"


def test_status_patch_contains_only_changed_keys() -> None:
    """Minimal patches keep unrelated writers' fields and avoid needless writes."""
    assert status_patch({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": 3}
    assert status_patch(None, {"a": 1}) == {"a": 1}


def test_status_patch_cuts_a_message_the_schema_would_refuse_and_then_writes_nothing_more() -> None:
    """A rollout judged on many metrics builds a message over status.message's 1024 characters: written
    whole, the API server refused the status write on every retry."""
    long = "check business_kpi passed; " * 60
    patch = status_patch({}, {"phase": "Promoting", "message": long})
    ModelDeploymentStatus.model_validate(patch)
    assert patch["message"].startswith(long[:900]) and patch["message"].endswith(" more characters)")
    assert status_patch(patch, {"phase": "Promoting", "message": long}) == {}


def test_training_status_cuts_its_message_to_what_the_schema_holds() -> None:
    """The Job handler writes training_status straight; 32 failed gates made a message over the limit."""
    gates = "; ".join(f"gate f1_class_{n}: 0.5 not >= 0.8" for n in range(32))
    desired = training_status({}, "Rejected", gates, T0)
    TrainingJobStatus.model_validate(desired)
    assert desired["message"].endswith(" more characters)")
