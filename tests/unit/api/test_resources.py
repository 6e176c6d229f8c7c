"""The models read what the API server and Kopf hand us and write back what the API server expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import kopf
import pytest
from pydantic import ValidationError

from ferryman.api import (
    API_VERSION,
    AnalysisResult,
    Condition,
    DriftMonitor,
    DriftMonitorSpec,
    ModelDeployment,
    ModelDeploymentStatus,
    StrategySpec,
    TrainingJobSpec,
)
from ferryman.handlers.spec_errors import describe_validation_error

pytestmark = pytest.mark.unit


def _stored_model_deployment() -> dict[str, Any]:
    """A ModelDeployment as the API server returns it, with server-owned metadata and a Kopf status key."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelDeployment",
        "metadata": {
            "name": "fraud",
            "namespace": "ml",
            "uid": "0b5c",
            "generation": 4,
            "resourceVersion": "812",
            "creationTimestamp": "2026-11-23T10:00:00Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {
            "model": {"uri": "models:/fraud@production"},
            "strategy": {"canary": {"steps": [{"weight": 10}, {"pause": {}}, {"weight": 50}]}},
        },
        "status": {
            "phase": "Paused",
            "canaryWeight": 10,
            "currentStep": 1,
            "stepStartedAt": "2026-11-23T10:05:00Z",
            "conditions": [{"type": "Progressing", "status": "True", "reason": "Paused"}],
            "kopf": {"progress": {}},
        },
    }


def test_reads_a_kopf_body_ignoring_server_owned_keys() -> None:
    """model_validate accepts a kopf.Body; managedFields, creationTimestamp and status.kopf are ignored."""
    md = ModelDeployment.model_validate(kopf.Body(_stored_model_deployment()))
    assert (md.name, md.namespace, md.metadata.generation, md.metadata.resource_version) == (
        "fraud",
        "ml",
        4,
        "812",
    )
    assert md.spec.model.parsed().alias == "production"
    assert md.status is not None and md.status.step_started_at == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def test_dump_is_camel_case_api_json_and_round_trips() -> None:
    """model_dump(by_alias, exclude_none) gives camelCase JSON that validates back to an equal model."""
    md = ModelDeployment.model_validate(_stored_model_deployment())
    dumped = md.model_dump(by_alias=True, exclude_none=True)
    assert dumped["status"]["stepStartedAt"] == "2026-11-23T10:05:00Z"
    assert dumped["spec"]["strategy"]["canary"]["progressDeadline"] == "10m"
    assert "managedFields" not in dumped["metadata"]
    assert ModelDeployment.model_validate(dumped) == md


def test_snake_case_names_build_the_same_object() -> None:
    """Python code may use snake_case names; JSON uses camelCase."""
    by_name = StrategySpec(blue_green={"auto_promote": True, "auto_promote_after": "5m"})  # type: ignore[arg-type]
    by_alias = StrategySpec.model_validate({"blueGreen": {"autoPromote": True, "autoPromoteAfter": "5m"}})
    assert by_name == by_alias
    assert by_name.kind == "blueGreen"


def test_defaults_fill_a_minimal_spec() -> None:
    """A spec with only a model gets the documented defaults for serving, traffic and canary analysis."""
    md = ModelDeployment.model_validate(
        {
            "metadata": {"name": "m"},
            "spec": {"model": {"uri": "models:/m/1"}, "strategy": {"canary": {"steps": [{"weight": 5}]}}},
        }
    )
    serving, canary = md.spec.serving, md.spec.strategy.canary  # type: ignore[union-attr]
    assert (serving.fixed_replicas, serving.port, md.spec.traffic.mode) == (1, 8080, "replicas")
    assert canary is not None and (canary.interval, canary.progress_deadline) == ("30s", "10m")
    assert (canary.analysis.max_error_rate, canary.analysis.min_requests, canary.analysis.failure_limit) == (
        0.01,
        100,
        2,
    )


def test_status_timestamps_are_written_in_utc_seconds() -> None:
    """Timestamps serialize as RFC 3339 in UTC with second precision, like metav1.Time."""
    moment = datetime(2026, 11, 23, 12, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))
    status = ModelDeploymentStatus(
        phase="Progressing",
        step_started_at=moment,
        last_analysis=AnalysisResult(at=moment, verdict="Inconclusive", canary_requests=12),
        conditions=[Condition(type="Ready", status="True", last_transition_time=moment)],
    )
    dumped = status.model_dump(by_alias=True, exclude_none=True)
    assert dumped["stepStartedAt"] == "2026-11-23T10:30:15Z"
    assert dumped["lastAnalysis"] == {
        "at": "2026-11-23T10:30:15Z",
        "verdict": "Inconclusive",
        "canaryRequests": 12,
        "checks": [],
        "metrics": [],
    }
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-11-23T10:30:15Z"


def test_naive_timestamps_are_refused() -> None:
    """A timestamp without a zone is ambiguous across operator restarts; it is refused."""
    with pytest.raises(ValidationError, match="timezone"):
        ModelDeploymentStatus(step_started_at=datetime(2026, 1, 1))


def test_training_pod_template_keeps_every_field_it_does_not_declare() -> None:
    """Pod fields Ferryman does not model (volumes, restartPolicy, container env) reach the Job unchanged."""
    template = {
        "metadata": {"labels": {"team": "fraud"}},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [
                {
                    "name": "train",
                    "image": "trainer:1",
                    "command": ["python", "-m", "train"],
                    "env": [{"name": "A"}],
                }
            ],
        },
    }
    spec = TrainingJobSpec.model_validate(
        {
            "template": template,
            "mlflow": {"trackingUri": "http://mlflow:5000", "experiment": "e", "registeredModel": "m"},
        }
    )
    assert spec.template.spec.containers[0].image == "trainer:1"
    assert spec.template.manifest() == template


def test_drift_monitor_features_left_out_means_every_feature() -> None:
    """An absent list monitors every reference feature. `features: all` (as DESIGN writes it) is refused,
    as the API server refuses it (a CRD field cannot be string-or-list): this model used to read it as
    "every feature", a promise no applied object could use."""
    spec = DriftMonitorSpec.model_validate({"modelDeploymentRef": {"name": "fraud"}})
    assert spec.monitors_all_features()
    with pytest.raises(ValidationError, match="features"):
        DriftMonitorSpec.model_validate({"modelDeploymentRef": {"name": "fraud"}, "features": "all"})
    listed = DriftMonitorSpec.model_validate({"modelDeploymentRef": {"name": "fraud"}, "features": ["age"]})
    assert not listed.monitors_all_features()


def test_drift_monitor_defaults_match_the_design() -> None:
    """PSI 0.2, JS 0.1, 500 samples, 2 consecutive windows, 10m window every 1m, 6h cooldown."""
    dm = DriftMonitor.model_validate(
        {"metadata": {"name": "d"}, "spec": {"modelDeploymentRef": {"name": "fraud"}, "onDrift": {}}}
    )
    spec = dm.spec
    assert (spec.tests.psi, spec.tests.js, spec.min_samples, spec.consecutive) == (0.2, 0.1, 500, 2)
    assert (spec.window, spec.interval) == ("10m", "1m")
    assert spec.on_drift is not None and spec.on_drift.cooldown == "6h"


@pytest.mark.parametrize("preview", ["fraud", "fraud-stable", "fraud-canary", "fraud-mirror"])
def test_a_preview_service_named_like_the_operators_own_is_refused(preview: str) -> None:
    """Before, the preview Service (candidate-only selector) was applied over the operator's own Service
    of that name, sending its clients to the untested version before any analysis."""
    body = _stored_model_deployment()
    body["spec"]["strategy"] = {"blueGreen": {"previewService": preview}}
    with pytest.raises(ValidationError) as refused:
        ModelDeployment.model_validate(body)
    message = describe_validation_error(refused.value)
    assert message.startswith(
        f"spec.strategy.blueGreen.previewService: {preview!r} is a Service the operator"
    )
    assert "leave it out for fraud-preview" in message
    body["spec"]["strategy"] = {"blueGreen": {"previewService": "fraud-candidate"}}
    ModelDeployment.model_validate(body)


def test_a_tracking_uri_whose_host_does_not_parse_is_refused_naming_the_field() -> None:
    """http://[::1 passes the schema's pattern; the registry client then failed on every retry."""
    template = {"spec": {"containers": [{"name": "train", "image": "trainer:1"}], "restartPolicy": "Never"}}
    mlflow = {"trackingUri": "http://[::1", "experiment": "e", "registeredModel": "m"}
    with pytest.raises(ValidationError, match=r"mlflow.trackingUri 'http://\[::1' is not a URL"):
        TrainingJobSpec.model_validate({"template": template, "mlflow": mlflow})
