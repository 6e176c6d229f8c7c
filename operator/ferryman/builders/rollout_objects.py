"""Pure: the objects a rollout Decision asks for (Deployments, Services, route) and its status."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ferryman.api import ModelDeployment
from ferryman.api.base import MAX_TEXT
from ferryman.api.vocabulary import format_timestamp
from ferryman.builders.autoscaling import TrackReplicas, build_autoscaler, canary_replicas_for
from ferryman.builders.naming import Track, track_selector_labels
from ferryman.builders.serving import (
    ServingTarget,
    build_serving_deployment,
    build_track_service,
    service_manifest,
)
from ferryman.builders.status import condition, with_other_conditions, within_limit
from ferryman.builders.traffic import TrafficSplit, provider_for
from ferryman.config import Settings
from ferryman.rollout import ERRORS_NAME, AnalysisPolicy, Decision, Observation, Outcome, Phase


def model_uri_of(version: str | None, status: dict[str, Any]) -> str | None:
    """The URI behind a version the state machine names, looked up in the status it was decided from.

    The state machine speaks in versions; status pairs each version with its URI. Looking up the
    *previous* status is what stays right at the moment of promotion, when the canary's version
    becomes the stable one but its URI is still recorded as the canary's.
    """
    if version is None:
        return None
    if version == status.get("canaryVersion"):
        return status.get("canaryUri")
    if version == status.get("stableVersion"):
        return status.get("stableUri")
    return None


def build_rollout_objects(
    md: ModelDeployment,
    decision: Decision,
    status: dict[str, Any],
    settings: Settings,
    autoscaled: TrackReplicas | None = None,
) -> list[dict[str, Any]]:
    """Everything to apply, in order, so the cluster matches the decision; applying it twice is harmless.

    Services first (routes point at them), then the route (traffic moves before pods do), then the
    Deployments (and stable's autoscaler). A canary that lost its traffic is left as it is: the handler
    scales it down later. With autoscaling, `autoscaled` holds the tracks' replicas as they are now.
    """
    split = TrafficSplit(decision.canary_weight, decision.mirror_percent, decision.route_matched_to_canary)
    traffic = provider_for(md)
    stable_replicas: int | None
    if md.spec.serving.autoscaling is not None:
        stable_replicas, canary_replicas = None, _autoscaled_canary(decision, autoscaled)
    else:
        stable_replicas, canary_replicas = traffic.stable_and_canary_replicas(md, split)
    canary_version = decision.canary_deployment_version
    stable_version = decision.stable_deployment_version
    objects: list[dict[str, Any]] = [
        traffic.client_service(md, split),
        build_track_service(md, "stable"),
        build_track_service(md, "canary"),
    ]
    if md.spec.strategy and md.spec.strategy.blue_green:
        preview = md.spec.strategy.blue_green.preview_service or f"{md.metadata.name}-preview"
        objects.append(service_manifest(md, preview, track_selector_labels(md.metadata.name, "canary")))
    objects.extend(traffic.objects(md, split))
    stable = _target(md, "stable", stable_version, status, stable_replicas)
    objects.append(build_serving_deployment(md, stable, settings))
    canary_uri = model_uri_of(canary_version, status)
    if canary_version is not None and canary_uri:
        # A canary needs a pod to become Ready before it gets any traffic.
        target = ServingTarget("canary", canary_uri, canary_version, max(canary_replicas, 1))
        objects.append(build_serving_deployment(md, target, settings))
    if md.spec.serving.autoscaling is not None:
        floor = autoscaled.floor if autoscaled is not None else None
        objects.append(build_autoscaler(md, settings, floor))
    return objects


def _autoscaled_canary(decision: Decision, autoscaled: TrackReplicas | None) -> int:
    """The canary's pods under stable's autoscaler: its traffic share of them, kept while it is promoted
    (stable grows to the promotion floor meanwhile; the canary carries its share until the switch)."""
    if autoscaled is None:
        return 1
    if decision.state.phase is Phase.PROMOTING and autoscaled.canary > 0:
        return autoscaled.canary
    return canary_replicas_for(autoscaled.stable, decision.canary_weight)


def _target(
    md: ModelDeployment, track: Track, version: str, status: dict[str, Any], replicas: int | None
) -> ServingTarget:
    uri = model_uri_of(version, status)
    if uri is None:
        raise ValueError(
            f"status: no model URI recorded for version {version}; the status was edited by hand?"
        )
    return ServingTarget(track, uri, version, replicas)


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
    promoted = state.phase is Phase.SUCCEEDED and previous.get("canaryVersion") == state.stable_version
    status["stableUri"] = canary_uri if promoted else previous.get("stableUri")
    status["canaryUri"] = None if promoted else canary_uri
    status["observedGeneration"] = generation
    conditions = [
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
    status["conditions"] = with_other_conditions(conditions, previous.get("conditions"))
    if decision.reject_canary:
        status["rejectedVersion"] = state.canary_version
    return status


def analysis_record(
    observation: Observation, decision: Decision, policy: AnalysisPolicy, now: datetime
) -> dict[str, Any]:
    """status.lastAnalysis: what was measured in the window and what the judge said."""
    canary, stable = observation.canary, observation.stable
    verdict = decision.verdict
    evidence = decision.state.evidence
    errors_c, errors_s = canary.tally(ERRORS_NAME), stable.tally(ERRORS_NAME)
    return {
        "at": format_timestamp(now),
        "verdict": str(verdict.outcome) if verdict else str(Outcome.INCONCLUSIVE),
        "message": within_limit(verdict.message if verdict else decision.state.message, MAX_TEXT),
        "canaryRequests": canary.requests,
        "stableRequests": stable.requests,
        "canaryErrorRate": errors_c.share,
        "stableErrorRate": errors_s.share,
        "canaryLatencyP99Seconds": canary.latency_p99_seconds,
        "stableLatencyP99Seconds": stable.latency_p99_seconds,
        "latencySource": canary.latency_source,
        "errorSource": canary.error_source,
        "checks": [
            {
                "name": name,
                "canaryBad": canary.tally(name).bad_count,
                "canaryTotal": canary.tally(name).total_count,
                "stableBad": stable.tally(name).bad_count,
                "stableTotal": stable.tally(name).total_count,
                "evidence": round(math.exp(min(evidence[name].harm_log, 700.0)), 6)
                if name in evidence
                else 1.0,
            }
            for name in sorted(canary.tallies)
        ],
        "metrics": [
            {
                "name": check.name,
                "value": observation.custom.get(check.name),
                "passed": (value := observation.custom.get(check.name)) is not None and check.allows(value),
            }
            for check in policy.custom_checks
        ],
    }
