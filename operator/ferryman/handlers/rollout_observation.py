"""Gather what the judge needs: readiness from the API server, canary vs stable from Prometheus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman import k8s
from ferryman.api import ModelDeployment
from ferryman.builders.autoscaling import replica_counts
from ferryman.builders.naming import Track, deployment_name, track_service_name
from ferryman.builders.rollout_plan import analysis_spec
from ferryman.builders.serving import served_model_of
from ferryman.builders.status import DeploymentReadiness
from ferryman.prometheus import PrometheusError, PrometheusSource, QueryRefused, TrackQuery
from ferryman.rollout import AnalysisPolicy, Observation, Phase, RolloutState, TrackSample

NO_REQUESTS = TrackSample(requests=0.0)


def metrics_wanted(state: RolloutState) -> bool:
    """The state machine judges only while the candidate has traffic; otherwise Prometheus is left alone."""
    has_traffic = state.canary_weight > 0 or state.traffic_started_at is not None
    return state.phase in (Phase.PROGRESSING, Phase.PAUSED) and has_traffic


def observe(
    md: ModelDeployment,
    state: RolloutState,
    policy: AnalysisPolicy,
    prometheus: PrometheusSource,
    now: datetime,
    min_stable_ready: int | None = None,
) -> Observation:
    """Readiness of both tracks, and their metrics over [window start, now] when they matter.

    A Prometheus failure does not raise: the observation carries it, and the state machine counts
    consecutive failures toward the analysis error limit. A custom query Prometheus refuses as wrong
    raises QueryRefused naming the field: asking again cannot help.
    """
    namespace, name = md.metadata.namespace or "default", md.metadata.name
    canary = k8s.get(k8s.DEPLOYMENT, namespace, deployment_name(name, "canary"))
    stable = k8s.get(k8s.DEPLOYMENT, namespace, deployment_name(name, "stable"))
    start = state.window_started_at or now
    canary_sample = stable_sample = NO_REQUESTS
    custom: dict[str, float | None] = {}
    error = None
    if metrics_wanted(state) and md.spec.strategy is not None:
        try:
            canary_sample = prometheus.track_sample(_query(namespace, name, "canary"), policy, start, now)
            stable_sample = prometheus.track_sample(_query(namespace, name, "stable"), policy, start, now)
            custom = prometheus.custom_values(analysis_spec(md.spec.strategy).metrics, namespace, name, now)
        except QueryRefused as refused:
            field = f"spec.strategy.{md.spec.strategy.kind}.analysis.metrics"
            raise QueryRefused(f"{field}: {refused}; fix the query") from None
        except PrometheusError as failure:
            error = str(failure)
    return Observation(
        window_start=start,
        window_end=now,
        canary=canary_sample,
        stable=stable_sample,
        canary_ready=DeploymentReadiness.of(canary).ready,
        custom=custom,
        stable_serving_version=_serving_version(stable, min_stable_ready or 0),
        error=error,
    )


def _query(namespace: str, name: str, track: Track) -> TrackQuery:
    return TrackQuery(namespace, name, track, track_service_name(name, track))


def _serving_version(deployment: dict[str, Any] | None, min_ready: int) -> str | None:
    """The version the stable Deployment runs with every replica Ready, else None.

    min_ready: under an autoscaler's promotion floor, stable serves the new version only once it has
    the pods that both tracks ran (the HPA may not have scaled it up yet).
    """
    if deployment is None or not DeploymentReadiness.of(deployment).ready:
        return None
    if replica_counts(deployment)[1] < min_ready:
        return None
    version, _uri = served_model_of(deployment)
    return version or None
