"""Stable's HorizontalPodAutoscaler, the canary that follows it, and the hand-overs around it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ferryman.api import ModelDeployment
from ferryman.builders.autoscaling import (
    TrackReplicas,
    build_horizontal_pod_autoscaler,
    canary_replicas_for,
    canary_replicas_to_follow,
    floor_to_keep,
    may_have_an_autoscaler,
    promotion_floor,
    replica_counts,
    replicas_handover,
)
from ferryman.builders.rollout_objects import build_rollout_objects
from ferryman.builders.rollout_plan import rollout_inputs
from ferryman.builders.serving import ServingTarget, build_serving_deployment
from ferryman.builders.serving_status import replica_status
from ferryman.config import Settings
from ferryman.rollout import Phase, RolloutAction, apply_action, start_rollout

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AUTOSCALING = {"minReplicas": 1, "maxReplicas": 4, "targetInFlight": 4, "scaleDownStabilization": "15s"}
STATUS = {"stableVersion": "1", "stableUri": "file:///v1", "canaryVersion": "2", "canaryUri": "file:///v2"}
GATEWAY = {"mode": "gateway", "gateway": {"parentRefs": [{"name": "web", "namespace": "infra"}]}}


def model_deployment(serving: dict[str, Any] | None = None, **spec: Any) -> ModelDeployment:
    return ModelDeployment.model_validate(
        {
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": "risk", "uid": "u1", "generation": 2},
            "spec": {
                "model": {"uri": "file:///v2"},
                "serving": serving if serving is not None else {"autoscaling": AUTOSCALING},
                "strategy": {"canary": {"steps": [{"weight": 25}, {"weight": 50}]}},
                **spec,
            },
        }
    )


def by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_the_autoscaler_targets_in_flight_requests_per_stable_pod() -> None:
    """An owned autoscaling/v2 HPA on the stable Deployment: Pods metric ferryman_inflight_requests,
    average value targetInFlight, the spec's bounds and scale-down stabilization window."""
    hpa = build_horizontal_pod_autoscaler(model_deployment())
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["metadata"]["name"] == "fraud-stable" and hpa["metadata"]["namespace"] == "risk"
    (owner,) = hpa["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("ModelDeployment", "u1", True)
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-stable"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    assert spec["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "ferryman_inflight_requests"},
                "target": {"type": "AverageValue", "averageValue": "4"},
            },
        }
    ]
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 15}


def test_only_an_edited_spec_or_one_asking_for_autoscaling_may_have_an_autoscaler_to_remove() -> None:
    """A new ModelDeployment without autoscaling never made one: nothing to look for."""
    plain = model_deployment(serving={})
    first = plain.model_copy(update={"metadata": plain.metadata.model_copy(update={"generation": 1})})
    assert not may_have_an_autoscaler(first)
    assert may_have_an_autoscaler(plain)  # generation 2: an earlier spec may have asked for one
    assert may_have_an_autoscaler(model_deployment())


def test_the_stable_deployment_under_an_autoscaler_carries_no_replica_count() -> None:
    """Server-side apply leaves spec.replicas to the HPA controller only if our manifest omits it."""
    target = ServingTarget("stable", "file:///v1", "1", None)
    deployment = build_serving_deployment(model_deployment(), target, Settings())
    assert "replicas" not in deployment["spec"]
    fixed = build_serving_deployment(
        model_deployment({"replicas": 2}), dataclasses.replace(target, replicas=2), Settings()
    )
    assert fixed["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("stable", "weight", "canary"),
    [(4, 25, 2), (3, 25, 1), (6, 25, 2), (1, 5, 1), (4, 50, 4), (4, 0, 1), (4, 100, 4), (0, 25, 1)],
)
def test_a_canary_gets_its_traffic_share_of_the_pods_at_stables_load_per_pod(
    stable: int, weight: int, canary: int
) -> None:
    """canary / (stable + canary) is about the weight, rounded up, never below 1 pod."""
    assert canary_replicas_for(stable, weight) == canary


def test_during_a_rollout_the_canary_follows_what_the_autoscaler_chose_for_stable() -> None:
    """At 25% with 6 stable pods the canary runs 2 (1 before it has traffic); stable is built without
    replicas and keeps its HPA with the user's bounds."""
    md = model_deployment()
    plan = rollout_inputs(md, Settings())[0]  # type: ignore[index]
    started = start_rollout(plan, "1", "2", T0)
    at_25 = dataclasses.replace(started, state=dataclasses.replace(started.state, canary_weight=25))
    for decision, canary in ((started, 1), (at_25, 2)):
        objects = build_rollout_objects(md, decision, STATUS, Settings(), TrackReplicas(stable=6, canary=1))
        assert "replicas" not in by_kind(objects, "Deployment", "fraud-stable")["spec"]
        assert by_kind(objects, "Deployment", "fraud-canary")["spec"]["replicas"] == canary
        assert by_kind(objects, "HorizontalPodAutoscaler", "fraud-stable")["spec"]["minReplicas"] == 1
        assert objects[-1]["kind"] == "HorizontalPodAutoscaler"


def test_a_promoted_canary_keeps_its_pods_while_stables_minimum_is_raised_to_both_tracks() -> None:
    """Promotion: the canary's pods stay as they are, and stable's HPA minimum becomes the pods of both
    tracks, so the switch of all traffic to stable finds the capacity already there."""
    md = model_deployment()
    plan = rollout_inputs(md, Settings())[0]  # type: ignore[index]
    started = start_rollout(plan, "1", "2", T0)
    promoting = apply_action(started.state, plan, RolloutAction.PROMOTE, T0)
    assert promoting.state.phase is Phase.PROMOTING
    floor = promotion_floor(md.spec.serving.autoscaling, 3, 1)  # type: ignore[arg-type]
    tracks = TrackReplicas(stable=3, canary=1, floor=floor)
    objects = build_rollout_objects(md, promoting, STATUS, Settings(), tracks)
    assert by_kind(objects, "Deployment", "fraud-canary")["spec"]["replicas"] == 1
    assert by_kind(objects, "HorizontalPodAutoscaler", "fraud-stable")["spec"]["minReplicas"] == 4
    assert "replicas" not in by_kind(objects, "Deployment", "fraud-stable")["spec"]


def test_the_promotion_floor_stays_within_the_autoscalers_bounds() -> None:
    """Both tracks' pods, but never above maxReplicas nor below minReplicas."""
    autoscaling = model_deployment().spec.serving.autoscaling
    assert autoscaling is not None
    assert promotion_floor(autoscaling, 2, 1) == 3
    assert promotion_floor(autoscaling, 4, 2) == 4
    assert promotion_floor(autoscaling, 0, 0) == 1


def test_the_promotion_floor_is_recorded_once_and_dropped_after_the_canary_retires() -> None:
    """Recomputed each tick it would ratchet up with the scale-up it caused itself."""
    assert floor_to_keep(promoting=True, canary_pods_remain=False, previous_floor=None, start_floor=3) == 3
    assert floor_to_keep(promoting=True, canary_pods_remain=False, previous_floor=3, start_floor=4) == 3
    assert floor_to_keep(promoting=False, canary_pods_remain=True, previous_floor=3, start_floor=4) == 3
    assert floor_to_keep(promoting=False, canary_pods_remain=False, previous_floor=3, start_floor=4) is None
    assert floor_to_keep(promoting=False, canary_pods_remain=True, previous_floor=None, start_floor=4) is None


def test_a_rollback_leaves_stables_autoscaler_as_the_spec_says() -> None:
    """After an abort the HPA keeps the user's bounds and stable's replica count stays the HPA's."""
    md = model_deployment()
    plan = rollout_inputs(md, Settings())[0]  # type: ignore[index]
    started = start_rollout(plan, "1", "2", T0)
    aborted = apply_action(started.state, plan, RolloutAction.ABORT, T0)
    objects = build_rollout_objects(md, aborted, STATUS, Settings(), TrackReplicas(stable=3, canary=1))
    assert "replicas" not in by_kind(objects, "Deployment", "fraud-stable")["spec"]
    assert by_kind(objects, "HorizontalPodAutoscaler", "fraud-stable") == build_horizontal_pod_autoscaler(md)
    assert [o for o in objects if o["metadata"]["name"] == "fraud-canary" and o["kind"] == "Deployment"] == []


def test_without_autoscaling_no_autoscaler_is_built_and_replicas_are_fixed() -> None:
    md = model_deployment({"replicas": 3}, traffic=GATEWAY)
    started = start_rollout(rollout_inputs(md, Settings())[0], "1", "2", T0)  # type: ignore[index]
    objects = build_rollout_objects(md, started, STATUS, Settings())
    assert all(o["kind"] != "HorizontalPodAutoscaler" for o in objects)
    assert by_kind(objects, "Deployment", "fraud-stable")["spec"]["replicas"] == 3


def deployment_applied_by(manager: str, fields: dict[str, Any], replicas: int = 3) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "fraud-stable",
            "namespace": "risk",
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
                {"manager": manager, "operation": "Apply", "fieldsV1": {"f:spec": fields}},
            ],
        },
        "spec": {"replicas": replicas},
    }


def test_replicas_the_operator_applied_are_handed_over_at_their_current_value() -> None:
    """Dropping a field its manager alone owned deletes it (1 replica until the HPA acts): another
    manager applies the current count first, as Kubernetes documents for a hand-over to an HPA."""
    ours = deployment_applied_by("ferryman", {"f:replicas": {}, "f:selector": {}}, replicas=3)
    assert replicas_handover(ours, "ferryman") == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fraud-stable", "namespace": "risk"},
        "spec": {"replicas": 3},
    }
    handed = deployment_applied_by("ferryman", {"f:selector": {}})
    assert replicas_handover(handed, "ferryman") is None
    assert replicas_handover(None, "ferryman") is None


def test_status_shows_ready_and_desired_stable_replicas() -> None:
    """The Replicas and Desired columns of `kubectl get md`."""
    deployment = {"spec": {"replicas": 4}, "status": {"readyReplicas": 2}}
    assert replica_status(deployment) == {"replicas": 2, "desiredReplicas": 4}
    assert replica_status(None) == {"replicas": 0, "desiredReplicas": 0}
    assert replica_counts(deployment) == (4, 2)


def test_replicas_and_autoscaling_together_are_refused_naming_both() -> None:
    with pytest.raises(ValidationError, match="replicas and autoscaling cannot both be set"):
        model_deployment({"replicas": 2, "autoscaling": AUTOSCALING})


def test_between_steps_the_canary_is_resized_only_while_judged_and_only_when_stable_moved() -> None:
    """Stable's HPA acts every 15 s, rollout steps may be minutes apart: the canary follows in between."""
    assert canary_replicas_to_follow(judging=True, canary_weight=25, stable=6, canary=1) == 2
    assert canary_replicas_to_follow(judging=True, canary_weight=25, stable=6, canary=2) is None
    assert canary_replicas_to_follow(judging=False, canary_weight=25, stable=6, canary=1) is None
    assert canary_replicas_to_follow(judging=True, canary_weight=25, stable=6, canary=0) is None
