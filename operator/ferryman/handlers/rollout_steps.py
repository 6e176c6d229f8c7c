"""Rollout handlers: start a rollout on a new model, step it on a timer, apply manual actions.

The rollout's whole memory is in .status; every tick rebuilds it with RolloutState.from_status,
asks the pure state machine for a Decision, applies the objects it implies, and writes status with
a resourceVersion precondition, so a crash or a concurrent writer never leaves a half-decided step.
The Decision says when to look again; the timer ticks often but skips ticks until then.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import ACTION_ANNOTATION, GROUP, VERSION, ModelDeployment
from ferryman.api.vocabulary import ACTIVE_PHASES
from ferryman.builders.naming import deployment_name
from ferryman.builders.rollout_objects import analysis_record, build_rollout_objects, rollout_status
from ferryman.builders.rollout_plan import fallback_inputs, rollout_inputs
from ferryman.builders.serving_status import invalid_spec_status
from ferryman.config import Settings
from ferryman.handlers import autoscaler, registry_link
from ferryman.handlers.rollout_observation import observe
from ferryman.handlers.spec_errors import describe_rejected_manifest
from ferryman.handlers.status_writes import write_status
from ferryman.prometheus import QueryRefused
from ferryman.rollout import (
    AnalysisPolicy,
    Decision,
    Observation,
    RolloutAction,
    RolloutPlan,
    RolloutState,
    apply_action,
    next_step,
    parse_action,
    start_rollout,
    stop_rollout,
)

PLURAL = "modeldeployments"
TICK_SECONDS = 2.0
log = logging.getLogger("ferryman.rollout")


def rollout_needs_attention(status: kopf.Status, annotations: kopf.Annotations, **_: Any) -> bool:
    """Tick only while a rollout runs, its canary awaits scale-down, or a manual action waits.

    Idle resources cost no API calls at all.
    """
    active = status.get("phase") in ACTIVE_PHASES or status.get("canaryRetireAt") is not None
    return active or ACTION_ANNOTATION in annotations


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, when=rollout_needs_attention)
def step_rollout(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """One step of the state machine when it asked for one: a manual action first, else judge and move on."""
    config: Settings = memo.config
    previous = dict(body.status)
    try:
        md = ModelDeployment.model_validate(body)
    except (ValidationError, ValueError):  # the reconcile reported it and stopped the rollout
        _retire_canary_of_unreadable_spec(body, previous)
        return
    try:
        inputs = rollout_inputs(md, config)
    except ValueError:  # the spec became invalid (reported by the reconcile): still retire the canary
        inputs = fallback_inputs(previous, config) if previous.get("strategy") else None
    if inputs is None or "stableVersion" not in previous:
        if ACTION_ANNOTATION in (md.metadata.annotations or {}):
            kopf.warn(
                body, reason="ActionIgnored", message=f"{ACTION_ANNOTATION}: no rollout strategy or rollout"
            )
            _clear_action(md)
        return
    plan, policy = inputs
    now = datetime.now(UTC)
    action = (md.metadata.annotations or {}).get(ACTION_ANNOTATION)
    if action is not None:
        _handle_action(md, body, memo, plan, action, previous, config, now)
        memo.rollout_due = None  # the action's follow-up (e.g. a weight shift) must not wait
        return
    due = getattr(memo, "rollout_due", None)
    if due is not None and now < due:
        _follow_autoscaler(md, memo, previous, now)
        return
    state = RolloutState.from_status(previous)
    floor = previous.get(autoscaler.FLOOR_KEY)
    observation: Observation | None = None
    try:
        observation = observe(md, state, policy, memo.prometheus, now, min_stable_ready=floor)
    except QueryRefused as refused:  # the spec's query is wrong: stop unjudged, as for an invalid spec
        decision = stop_rollout(state, plan, str(refused), now)
    else:
        decision = next_step(state, plan, policy, observation, now)
    try:
        apply_decision(md, body, decision, previous, config, now, observation, policy)
    except kopf.PermanentError as error:  # an object the cluster refuses: not ours, or a kind not served
        _refused_mid_rollout(md, body, previous, config, describe_rejected_manifest(error), now)
        memo.rollout_due = None
        return
    requeue = decision.requeue_after_seconds
    memo.rollout_due = None if requeue is None else now + timedelta(seconds=requeue)


def _retire_canary_of_unreadable_spec(body: kopf.Body, previous: dict[str, Any]) -> None:
    """A rollout stopped for an invalid spec still retires its canary when the time comes. Nothing is
    rebuilt from a spec that cannot be read: its traffic already went back to stable at the stop, so only
    the canary Deployment is scaled to 0."""
    retire_at = RolloutState.from_status(previous).canary_retire_at
    if retire_at is None or datetime.now(UTC) < retire_at:
        return
    name, namespace = body.metadata.name or "", body.metadata.namespace
    k8s.scale(k8s.DEPLOYMENT, namespace, deployment_name(name, "canary"), 0, owner_uid=body.metadata.uid)
    write_status(body, {"canaryRetireAt": None})


def _follow_autoscaler(md: ModelDeployment, memo: kopf.Memo, previous: dict[str, Any], now: datetime) -> None:
    """Between steps, every FOLLOW_SECONDS: the canary keeps its share of stable's autoscaled pods."""
    followed = getattr(memo, "autoscaler_followed", None)
    if md.spec.serving.autoscaling is None or (followed is not None and now < followed):
        return
    memo.autoscaler_followed = now + timedelta(seconds=autoscaler.FOLLOW_SECONDS)
    autoscaler.follow_stable(md, previous)


def _refused_mid_rollout(
    md: ModelDeployment, body: kopf.Body, previous: dict[str, Any], config: Settings, message: str,
    now: datetime,
) -> None:  # fmt: skip
    """Degraded with the refusal's message (it names the object and the fix), never a timer failing on
    every tick. A running rollout first sends traffic back to stable, if the cluster takes that; after
    that the timer stops (canaryRetireAt cleared) until the user fixes it and edits the spec."""
    if previous.get("phase") in ACTIVE_PHASES:
        try:
            stop_unjudgeable_rollout(md, body, previous, config, message)
            kopf.warn(body, reason="ObjectRefused", message=message)
            return
        except kopf.PermanentError as again:
            message = (
                f"{message}; traffic could not go back to stable either: {describe_rejected_manifest(again)}"
            )
    degraded = invalid_spec_status(
        previous=previous, generation=md.metadata.generation, message=message, now=now
    )
    write_status(body, {**degraded, "canaryRetireAt": None})
    if previous.get("message") != message:
        kopf.warn(body, reason="ObjectRefused", message=message)
    log.warning(
        "%s/%s: the cluster refused a rollout object: %s", md.metadata.namespace, md.metadata.name, message
    )


def _handle_action(
    md: ModelDeployment, body: kopf.Body, memo: kopf.Memo, plan: RolloutPlan, text: str,
    previous: dict[str, Any], config: Settings, now: datetime,
) -> None:  # fmt: skip
    """Apply ferryman.dev/action once, then remove it; a bad value or no rollout gets a Warning.

    `promote` with no rollout in progress, while the tracked alias names a version this object
    rejected, lifts the rejection (the registry tag) so that the version is rolled out.
    """
    try:
        action = parse_action(text)
        lifted = None
        if action is RolloutAction.PROMOTE and previous.get("phase") not in ACTIVE_PHASES:
            lifted = registry_link.lift_rejection(md, previous, memo)
        if lifted is not None:
            kopf.event(body, type="Normal", reason="RejectionLifted", message=lifted)
            _clear_action(md)
            return
        if previous.get("phase") not in ACTIVE_PHASES:
            # A no-op, as an action that does not apply to an active rollout: Normal, not a Warning.
            message = f"annotation {ACTION_ANNOTATION}={text}: no rollout in progress, nothing to {text}"
            kopf.event(body, type="Normal", reason="ActionIgnored", message=message)
            _clear_action(md)
            return
        decision = apply_action(RolloutState.from_status(previous), plan, action, now)
    except ValueError as error:  # an unknown action, or a status the machine cannot read
        kopf.warn(body, reason="ActionIgnored", message=str(error))
        _clear_action(md)
        return
    apply_decision(md, body, decision, previous, config, now)
    _clear_action(md)


def _clear_action(md: ModelDeployment) -> None:
    if ACTION_ANNOTATION in (md.metadata.annotations or {}):
        metadata = {"annotations": {ACTION_ANNOTATION: None}}
        k8s.patch_metadata(k8s.MODEL_DEPLOYMENT, md.metadata.namespace, md.metadata.name, metadata)


def begin_rollout(
    md: ModelDeployment, body: kopf.Body, plan: RolloutPlan, previous: dict[str, Any], config: Settings
) -> None:
    """A new model version: its canary starts beside stable with no user traffic yet."""
    now = datetime.now(UTC)
    decision = start_rollout(plan, previous["stableVersion"], md.spec.model.version_label(), now)
    with_canary = {**previous, "canaryUri": md.spec.model.uri, "canaryVersion": md.spec.model.version_label()}
    apply_decision(md, body, decision, with_canary, config, now)


def stop_unjudgeable_rollout(
    md: ModelDeployment, body: kopf.Body, previous: dict[str, Any], config: Settings, why: str
) -> None:
    """The spec changed mid-rollout into one that cannot be judged: all traffic back to stable first."""
    now = datetime.now(UTC)
    plan, _policy = fallback_inputs(previous, config)
    decision = stop_rollout(RolloutState.from_status(previous), plan, why, now)
    apply_decision(md, body, decision, previous, config, now)


def abort_rollout(
    md: ModelDeployment, body: kopf.Body, plan: RolloutPlan, previous: dict[str, Any], config: Settings
) -> None:
    """The spec went back to the stable model mid-rollout: all traffic to stable at once."""
    now = datetime.now(UTC)
    decision = apply_action(RolloutState.from_status(previous), plan, RolloutAction.ABORT, now)
    apply_decision(md, body, decision, previous, config, now)


def apply_decision(
    md: ModelDeployment,
    body: kopf.Body,
    decision: Decision,
    previous: dict[str, Any],
    config: Settings,
    now: datetime,
    observation: Observation | None = None,
    policy: AnalysisPolicy | None = None,
) -> None:
    """Make the cluster match the decision, then record it (objects first: status never runs ahead)."""
    autoscaled = autoscaler.track_replicas(md, decision, previous)
    autoscaler.prepare_stable_for_autoscaler(md, config)
    for manifest in build_rollout_objects(md, decision, previous, config, autoscaled):
        k8s.apply(manifest, config.field_manager)
    if autoscaled is None:
        autoscaler.apply_autoscaler(md, config)  # removes an HPA left from an earlier spec
    if decision.scale_canary_down and previous.get("canaryRetireAt"):
        canary = deployment_name(md.metadata.name, "canary")
        k8s.scale(k8s.DEPLOYMENT, md.metadata.namespace, canary, 0, owner_uid=md.metadata.uid)
    status = rollout_status(
        decision, previous, canary_uri=previous.get("canaryUri"), generation=md.metadata.generation, now=now
    )
    status[autoscaler.FLOOR_KEY] = autoscaled.floor if autoscaled is not None else None
    if decision.verdict is not None and observation is not None and policy is not None:
        status["lastAnalysis"] = analysis_record(observation, decision, policy, now)
    write_status(body, status)
    for event in decision.events:
        kopf.event(body, type=str(event.type), reason=event.reason, message=event.message)
        log.info("%s/%s %s: %s", md.metadata.namespace, md.metadata.name, event.reason, event.message)
