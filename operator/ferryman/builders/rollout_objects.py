"""Pure: the objects a rollout Decision asks for (Deployments, Services, route) and its status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ferryman.api import ModelDeployment
from ferryman.builders.naming import Track, track_selector_labels
from ferryman.builders.serving import (
    ServingTarget,
    build_service,
    build_serving_deployment,
    build_track_service,
    service_manifest,
)
from ferryman.builders.status import condition
from ferryman.builders.traffic import (
    TrafficSplit,
    build_http_route,
    build_traefik_mirror,
    replica_split,
)
from ferryman.config import Settings
from ferryman.rollout import Decision, Observation, Outcome


def model_uri_of(version: str | None, status: dict[str, Any], state_stable: str) -> str | None:
    """The URI behind a version the state machine names: stable's or the canary's."""
    if version is None:
        return None
    return status.get("stableUri") if version == state_stable else status.get("canaryUri")


def build_rollout_objects(
    md: ModelDeployment, decision: Decision, status: dict[str, Any], settings: Settings
) -> list[dict[str, Any]]:
    """Everything to apply so the cluster matches the decision; applying it twice is harmless."""
    state = decision.state
    split = TrafficSplit(decision.canary_weight, decision.mirror_percent, decision.route_matched_to_canary)
    replicas = md.spec.serving.replicas
    gateway = md.spec.traffic.gateway if md.spec.traffic.mode == "gateway" else None
    stable_replicas, canary_replicas = replica_split(replicas, split.canary_weight)
    if gateway is not None:
        canary_replicas = replicas  # weights, not pod counts, split traffic: size the canary like stable
    canary_version = decision.canary_deployment_version
    stable_version = decision.stable_deployment_version
    objects: list[dict[str, Any]] = [
        build_serving_deployment(
            md, _target(md, "stable", stable_version, status, state.stable_version, stable_replicas), settings
        ),
        build_service(md, canary_gets_traffic=split.canary_weight > 0 and gateway is None),
        build_track_service(md, "stable"),
        build_track_service(md, "canary"),
    ]
    canary_uri = status.get("canaryUri")
    if canary_version is not None and canary_uri:
        # A canary needs a pod to become Ready before it gets any traffic.
        target = ServingTarget("canary", canary_uri, canary_version, max(canary_replicas, 1))
        objects.append(build_serving_deployment(md, target, settings))
    elif (scaled_down := canary_scaled_down(md, status, settings)) is not None:
        objects.append(scaled_down)
    if md.spec.strategy and md.spec.strategy.blue_green:
        preview = md.spec.strategy.blue_green.preview_service or f"{md.metadata.name}-preview"
        objects.append(service_manifest(md, preview, track_selector_labels(md.metadata.name, "canary")))
    if gateway is not None:
        objects.append(build_http_route(md, gateway, split))
        if gateway.mirror_with == "TraefikService" and split.mirror_percent > 0:
            objects.append(build_traefik_mirror(md, split))
    return objects


def _target(
    md: ModelDeployment, track: Track, version: str, status: dict[str, Any], stable: str, replicas: int
) -> ServingTarget:
    uri = model_uri_of(version, status, stable) or md.spec.model.uri
    return ServingTarget(track, uri, version, replicas)


def canary_scaled_down(
    md: ModelDeployment, status: dict[str, Any], settings: Settings
) -> dict[str, Any] | None:
    """The canary Deployment at zero replicas, if a canary was ever started (cheap to keep and reuse)."""
    uri = status.get("canaryUri")
    version = status.get("canaryVersion")
    if not uri or not version:
        return None
    return build_serving_deployment(md, ServingTarget("canary", uri, version, 0), settings)


_VERDICTS = {Outcome.PASS: "Pass", Outcome.FAIL: "Fail", Outcome.INCONCLUSIVE: "Wait"}


def rollout_status(
    decision: Decision,
    previous: dict[str, Any],
    *,
    canary_uri: str | None,
    generation: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Status after a decision: the state machine's memory, the URIs behind versions, conditions."""
    state = decision.state
    status = state.to_status()
    promoted = state.phase.value == "Succeeded" and previous.get("canaryVersion") == state.stable_version
    status["stableUri"] = canary_uri if promoted else previous.get("stableUri")
    status["canaryUri"] = None if promoted else canary_uri
    status["observedGeneration"] = generation
    status["conditions"] = [
        condition(
            c.type,
            "True" if c.status == "True" else "False",
            c.reason,
            c.message,
            now=now,
            previous=previous.get("conditions"),
        )
        for c in decision.conditions
    ]
    return status


def analysis_record(observation: Observation, decision: Decision, now: datetime) -> dict[str, Any]:
    """status.lastAnalysis: what was measured and what the judge said."""
    canary, stable = observation.canary, observation.stable
    verdict = decision.state.last_verdict
    return {
        "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": _VERDICTS.get(verdict, "Wait") if verdict else "Wait",
        "message": decision.state.message[:1024],
        "canaryRequests": canary.requests,
        "stableRequests": stable.requests,
        "canaryErrorRate": canary.errors / canary.requests if canary.requests else None,
        "stableErrorRate": stable.errors / stable.requests if stable.requests else None,
        "canaryLatencyP99Seconds": canary.latency_p99_seconds,
        "stableLatencyP99Seconds": stable.latency_p99_seconds,
    }
