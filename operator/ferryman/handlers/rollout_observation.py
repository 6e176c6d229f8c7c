"""Gather what the judge needs: readiness from the API server, canary vs stable from Prometheus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman import k8s
from ferryman.api import ModelDeployment
from ferryman.builders.naming import deployment_name
from ferryman.builders.rollout_plan import analysis_spec
from ferryman.builders.serving import served_model_of
from ferryman.builders.status import DeploymentReadiness
from ferryman.prometheus import PrometheusSource
from ferryman.rollout import Observation, RolloutPlan, RolloutState, TrackSample

NO_REQUESTS = TrackSample(requests=0.0, errors=0.0)


def observe(
    md: ModelDeployment, state: RolloutState, plan: RolloutPlan, prometheus: PrometheusSource, now: datetime
) -> tuple[Observation, bool]:
    """The observation for next_step, and whether metrics were queried (the window is complete).

    Before a window has lasted an interval the state machine only waits, so Prometheus is left alone.
    """
    namespace, name = md.metadata.namespace or "default", md.metadata.name
    canary = k8s.get(k8s.DEPLOYMENT, namespace, deployment_name(name, "canary"))
    stable = k8s.get(k8s.DEPLOYMENT, namespace, deployment_name(name, "stable"))
    start = state.window_started_at or now
    window_complete = (now - start).total_seconds() >= plan.interval_seconds
    canary_sample = stable_sample = NO_REQUESTS
    custom: dict[str, float | None] = {}
    if window_complete and md.spec.strategy is not None:
        canary_sample = prometheus.track_sample(namespace, name, "canary", start, now)
        stable_sample = prometheus.track_sample(namespace, name, "stable", start, now)
        custom = prometheus.custom_values(analysis_spec(md.spec.strategy).metrics, namespace, name, now)
    observation = Observation(
        window_start=start,
        window_end=now,
        canary=canary_sample,
        stable=stable_sample,
        canary_ready=DeploymentReadiness.of(canary).ready,
        custom=custom,
        stable_serving_version=_serving_version(stable),
    )
    return observation, window_complete


def _serving_version(deployment: dict[str, Any] | None) -> str | None:
    """The version the stable Deployment runs with every replica Ready, else None."""
    if deployment is None or not DeploymentReadiness.of(deployment).ready:
        return None
    version, _uri = served_model_of(deployment)
    return version or None
