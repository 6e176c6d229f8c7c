"""The KEDA ScaledObject Ferryman makes instead of an HPA when the operator's autoscaler is `keda`."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.api import ModelDeployment
from ferryman.builders.autoscaling import TrackReplicas, build_autoscaler, promotion_floor
from ferryman.builders.keda import build_scaled_object
from ferryman.builders.rollout_objects import build_rollout_objects
from ferryman.builders.rollout_plan import rollout_inputs
from ferryman.config import Settings
from ferryman.rollout import Phase, RolloutAction, apply_action, start_rollout
from tests.unit.builders.test_autoscaling import STATUS, T0, by_kind, model_deployment

pytestmark = pytest.mark.unit

PROMETHEUS = "http://prometheus.monitoring:9090"
KEDA = Settings(autoscaler="keda", prometheus_url=PROMETHEUS)


def test_the_scaled_object_aims_for_target_in_flight_per_stable_pod() -> None:
    """Owned, on the stable Deployment, the spec's bounds; a Prometheus trigger summing stable's requests
    in flight, AverageValue targetInFlight (so per pod, as the HPA's Pods metric)."""
    scaled = build_scaled_object(model_deployment(), PROMETHEUS)
    assert (scaled["apiVersion"], scaled["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    assert scaled["metadata"]["name"] == "fraud-stable" and scaled["metadata"]["namespace"] == "risk"
    (owner,) = scaled["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("ModelDeployment", "u1", True)
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-stable"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 4)
    (trigger,) = spec["triggers"]
    assert (trigger["type"], trigger["metricType"]) == ("prometheus", "AverageValue")
    assert trigger["metadata"] == {
        "serverAddress": PROMETHEUS,
        "query": 'sum(avg_over_time(ferryman_inflight_requests{namespace="risk",model_deployment="fraud",'
        'track="stable"}[1m]))',
        "threshold": "4",
    }
    hpa_config = spec["advanced"]["horizontalPodAutoscalerConfig"]
    assert hpa_config["name"] == "fraud-stable"
    assert hpa_config["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 15}


def test_the_operator_setting_picks_the_kind() -> None:
    md = model_deployment()
    assert build_autoscaler(md, Settings())["kind"] == "HorizontalPodAutoscaler"
    assert build_autoscaler(md, KEDA)["kind"] == "ScaledObject"


def test_the_promotion_floor_raises_keda_minimum_as_it_does_the_hpas() -> None:
    md: ModelDeployment = model_deployment()
    plan = rollout_inputs(md, KEDA)[0]  # type: ignore[index]
    promoting = apply_action(start_rollout(plan, "1", "2", T0).state, plan, RolloutAction.PROMOTE, T0)
    assert promoting.state.phase is Phase.PROMOTING
    floor = promotion_floor(md.spec.serving.autoscaling, 3, 1)  # type: ignore[arg-type]
    objects: list[dict[str, Any]] = build_rollout_objects(
        md, promoting, STATUS, KEDA, TrackReplicas(stable=3, canary=1, floor=floor)
    )
    assert by_kind(objects, "ScaledObject", "fraud-stable")["spec"]["minReplicaCount"] == 4
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert "replicas" not in by_kind(objects, "Deployment", "fraud-stable")["spec"]
