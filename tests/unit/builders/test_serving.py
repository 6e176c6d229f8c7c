"""The serving builders turn a ModelDeployment into the Deployment and Service it owns."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ferryman.api import ModelDeployment
from ferryman.builders.naming import label_value
from ferryman.builders.serving import (
    ServingTarget,
    build_service,
    build_serving_deployment,
    controlling_model_deployment,
    deploying_message,
    served_model_of,
)
from ferryman.config import Settings

pytestmark = pytest.mark.unit


def model_deployment(**spec_overrides: Any) -> ModelDeployment:
    spec: dict[str, Any] = {
        "model": {"uri": "models:/fraud/7"},
        "serving": {"replicas": 2, "image": "registry.example/serving:1"},
    }
    spec.update(spec_overrides)
    return ModelDeployment.model_validate(
        {
            "apiVersion": "ferryman.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": "risk", "uid": "uid-1", "generation": 3},
            "spec": spec,
        }
    )


STABLE = ServingTarget(track="stable", model_uri="models:/fraud/7", model_version="7", replicas=2)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_deployment_is_owned_by_the_model_deployment() -> None:
    """Garbage collection removes the Deployment with its ModelDeployment."""
    deployment = build_serving_deployment(model_deployment(), STABLE, Settings())
    (owner,) = deployment["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "fraud",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert deployment["metadata"]["namespace"] == "risk"
    assert deployment["metadata"]["name"] == "fraud-stable"


def test_model_uri_and_version_reach_the_server_by_env() -> None:
    """The serving process learns what to load only from its FERRYMAN_* environment."""
    env = {
        e["name"]: e
        for e in container(build_serving_deployment(model_deployment(), STABLE, Settings()))["env"]
    }
    assert env["FERRYMAN_MODEL_URI"]["value"] == "models:/fraud/7"
    assert env["FERRYMAN_MODEL_VERSION"]["value"] == "7"
    assert env["FERRYMAN_MODEL_NAME"]["value"] == "fraud"  # the registered model of models:/fraud/7
    assert env["FERRYMAN_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    """Non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root."""
    deployment = build_serving_deployment(model_deployment(), STABLE, Settings())
    pod = deployment["spec"]["template"]["spec"]
    security = container(deployment)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True


def test_probes_use_the_open_inference_protocol_health_endpoints() -> None:
    """Readiness waits for the model to load and warm up; liveness only for the process."""
    serving = container(build_serving_deployment(model_deployment(), STABLE, Settings()))
    assert serving["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert serving["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}


def test_selector_picks_one_track_and_template_matches_it() -> None:
    """A Deployment must select exactly the pods its template makes, and only its own track."""
    deployment = build_serving_deployment(model_deployment(), STABLE, Settings())
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert selector["ferryman.dev/track"] == "stable"
    assert labels["ferryman.dev/model-version"] == "7"


def test_replicas_come_from_the_target() -> None:
    """The target, not the spec, decides replicas: a rollout scales tracks independently."""
    canary = ServingTarget(track="canary", model_uri="models:/fraud/8", model_version="8", replicas=1)
    deployment = build_serving_deployment(model_deployment(), canary, Settings())
    assert deployment["spec"]["replicas"] == 1
    assert deployment["metadata"]["name"] == "fraud-canary"


def test_builders_are_pure() -> None:
    """Same input, same output."""
    md = model_deployment()
    assert build_serving_deployment(md, STABLE, Settings()) == build_serving_deployment(
        md, STABLE, Settings()
    )
    assert build_service(md) == build_service(md)


def test_service_selects_stable_unless_the_canary_has_a_share() -> None:
    """Clients call one Service; canary pods join it only while the rollout gives them traffic."""
    stable_only = build_service(model_deployment())
    both = build_service(model_deployment(), canary_gets_traffic=True)
    assert stable_only["metadata"]["name"] == "fraud"
    assert stable_only["spec"]["selector"] == {
        "ferryman.dev/model-deployment": "fraud",
        "ferryman.dev/track": "stable",
    }
    assert both["spec"]["selector"] == {"ferryman.dev/model-deployment": "fraud"}
    assert stable_only["spec"]["ports"][0]["targetPort"] == 8080


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", "7"), ("production@3", "production-3"), ("-a/b-", "a-b"), ("x" * 80, "x" * 63)],
)
def test_label_values_are_always_valid(text: str, expected: str) -> None:
    """Model versions can hold characters labels cannot; the label keeps what it can."""
    assert label_value(text) == expected


def test_pods_get_time_to_drain_and_finish_requests_before_they_are_killed() -> None:
    """terminationGracePeriodSeconds exceeds the drain plus graceful timeout the server is told to use."""
    settings = Settings(serving_drain_seconds=5, serving_graceful_timeout_seconds=30)
    pod = build_serving_deployment(model_deployment(), STABLE, settings)["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in container({"spec": {"template": {"spec": pod}}})["env"]}
    shutdown = float(env["FERRYMAN_DRAIN_SECONDS"]) + float(env["FERRYMAN_GRACEFUL_TIMEOUT_SECONDS"])
    assert shutdown == 35
    assert pod["terminationGracePeriodSeconds"] > shutdown


def test_pods_are_never_best_effort_and_tmp_is_bounded() -> None:
    """Without spec.serving.resources the operator's default requests apply; /tmp has a sizeLimit."""
    default = build_serving_deployment(model_deployment(), STABLE, Settings())
    assert container(default)["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"}
    (volume,) = default["spec"]["template"]["spec"]["volumes"]
    assert volume == {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}
    own = model_deployment(serving={"resources": {"requests": {"cpu": "2"}, "limits": {"memory": "4Gi"}}})
    assert container(build_serving_deployment(own, STABLE, Settings()))["resources"] == {
        "requests": {"cpu": "2"},
        "limits": {"memory": "4Gi"},
    }


def test_user_env_cannot_override_the_operators_variables() -> None:
    """FERRYMAN_MODEL_URI in spec.serving.env is refused naming the field; other variables pass through."""
    with pytest.raises(ValidationError) as caught:
        model_deployment(serving={"env": [{"name": "FERRYMAN_MODEL_URI", "value": "file:///evil.onnx"}]})
    (error,) = caught.value.errors()
    assert error["loc"] == ("spec", "serving", "env", 0)
    assert "set by the operator" in error["msg"] and "FERRYMAN_MODEL_URI" in error["msg"]
    md = model_deployment(serving={"env": [{"name": "FERRYMAN_LOG_LEVEL", "value": "DEBUG"}]})
    names = [e["name"] for e in container(build_serving_deployment(md, STABLE, Settings()))["env"]]
    assert names.count("FERRYMAN_MODEL_URI") == 1 and names[-1] == "FERRYMAN_LOG_LEVEL"


def test_the_owner_of_a_deployment_comes_from_its_controller_reference_not_its_labels() -> None:
    """A Deployment carrying our labels but no ownerReference belongs to no ModelDeployment."""
    ours = build_serving_deployment(model_deployment(), STABLE, Settings())
    assert controlling_model_deployment(ours) == ("fraud", "uid-1")
    forged = {"metadata": {"name": "fraud-stable", "labels": ours["metadata"]["labels"]}}
    assert controlling_model_deployment(forged) is None
    other_controller = {
        "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x",
                                          "uid": "u", "controller": True}]}
    }  # fmt: skip
    assert controlling_model_deployment(other_controller) is None


def test_the_model_uri_annotation_and_event_are_redacted_but_the_server_gets_it_whole() -> None:
    """Pod readers see no credentials; the server's env and served_model_of keep the real URI."""
    secret_uri = "https://alice:s3cret@models.example/fraud.onnx?sig=abc"
    target = ServingTarget(track="stable", model_uri=secret_uri, model_version="1", replicas=1)
    md = model_deployment(model={"uri": secret_uri})
    deployment = build_serving_deployment(md, target, Settings())
    annotation = deployment["spec"]["template"]["metadata"]["annotations"]["ferryman.dev/model-uri"]
    assert annotation == "https://REDACTED@models.example/fraud.onnx?REDACTED"
    env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
    assert env["FERRYMAN_MODEL_URI"] == secret_uri
    assert served_model_of(deployment) == ("1", secret_uri)
    assert "s3cret" not in deploying_message(target) and "sig=" not in deploying_message(target)
