"""ModelDeployment handlers: read the resource, decide with pure builders, apply, report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import GROUP, VERSION, ModelDeployment, redact_uris_in
from ferryman.api.vocabulary import ACTIVE_PHASES
from ferryman.builders.naming import deployment_name
from ferryman.builders.rollout_plan import RolloutInputs, rollout_inputs
from ferryman.builders.serving import (
    ServingTarget,
    build_service,
    build_serving_deployment,
    check_model_source,
    deploying_message,
)
from ferryman.builders.serving_status import invalid_spec_status, replica_status, serving_status
from ferryman.builders.status import DeploymentReadiness, status_patch
from ferryman.builders.traffic import build_steady_traffic
from ferryman.builders.version_change import VersionChange, classify_version_change, version_label_in
from ferryman.config import Settings
from ferryman.handlers import autoscaler, registry_link, rollout_steps
from ferryman.handlers.spec_errors import describe_rejected_manifest, describe_validation_error
from ferryman.handlers.startup import diffbase_storage

PLURAL = "modeldeployments"
# Phases in which the stable Deployment alone decides the status; a rollout owns it otherwise.
STEADY_PHASES = frozenset({None, "Pending", "Succeeded"})
STATUS_WRITE_ATTEMPTS = 3
URI_FIELDS = ("stableUri", "canaryUri")


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile_model_deployment(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Serve the spec's model: in place on the stable track, or through a rollout beside it."""
    config: Settings = memo.config
    now = datetime.now(UTC)
    previous = dict(body.status)
    try:
        md = ModelDeployment.model_validate(body)
    except (ValidationError, ValueError) as error:
        message = describe_validation_error(error)
        # Objects are built from the last spec handled (Kopf's diff base: before this edit, also when the
        # edit came while the operator was down); without a valid one nothing can be rebuilt.
        _stop_unjudgeable_rollout(_last_handled(body, config), body, previous, config, message)
        _degrade(body, patch, previous, message, now, logger)
    try:
        check_model_source(md, config)
        inputs = rollout_inputs(md, config)
    except (ValidationError, ValueError) as error:
        message = describe_validation_error(error)
        _stop_unjudgeable_rollout(md, body, previous, config, message)
        _degrade(body, patch, previous, message, now, logger)
    spec_changed = md.metadata.generation != previous.get("observedGeneration")
    # An alias is asked afresh when the spec changed; on an operator restart the shared cache asks once.
    resolved = registry_link.resolve_spec(md, previous, memo, patch, fresh=spec_changed)
    md, change = classify(
        resolved.md, previous, inputs, spec_changed=spec_changed, rejection_lifted=resolved.rejection_lifted
    )
    carry_out(md, change, inputs, body, patch, previous, config, now, logger)


def _last_handled(body: kopf.Body, config: Settings) -> ModelDeployment | None:
    """The resource with the last spec the operator handled, if there is one and it was valid."""
    essence = diffbase_storage(config).fetch(body=body)
    spec = (essence or {}).get("spec")
    if not isinstance(spec, dict):
        return None
    try:
        return ModelDeployment.model_validate({**body, "spec": spec})
    except (ValidationError, ValueError):
        return None


def _stop_unjudgeable_rollout(
    md: ModelDeployment | None, body: kopf.Body, previous: dict[str, Any], config: Settings, message: str
) -> None:
    # A rollout that can no longer be judged sends all traffic back to stable before going Degraded.
    if md is not None and previous.get("phase") in ACTIVE_PHASES:
        rollout_steps.stop_unjudgeable_rollout(md, body, previous, config, message)


def classify(
    md: ModelDeployment, previous: dict[str, Any], inputs: RolloutInputs | None, *, spec_changed: bool,
    rejection_lifted: bool = False,
) -> tuple[ModelDeployment, VersionChange]:  # fmt: skip
    """What serving md's (pinned) model means given the status; md with its version label settled."""
    md = md.with_version_label(version_label_in(previous, md.spec.model.uri))
    change = classify_version_change(
        previous, md.spec.model.uri, has_strategy=inputs is not None, spec_changed=spec_changed,
        rejection_lifted=rejection_lifted,
    )  # fmt: skip
    return md, change


def carry_out(
    md: ModelDeployment, change: VersionChange, inputs: RolloutInputs | None, body: kopf.Body,
    patch: kopf.Patch, previous: dict[str, Any], config: Settings, now: datetime, logger: kopf.Logger,
) -> None:  # fmt: skip
    """Apply what the change means; a manifest the cluster refuses ends in Degraded."""
    # One line per decision: what the operator is about to do with this spec, and why.
    logger.info(
        "reconcile: %s", change.value,
        extra={"decision": change.name.lower(), "version": md.spec.model.version_label(),
               "generation": md.metadata.generation},
    )  # fmt: skip
    try:
        if change in (VersionChange.SERVE_IN_PLACE, VersionChange.KEEP_STABLE):
            serve_in_place(md, body, previous, config, now)
        elif inputs is not None and change in (VersionChange.START_ROLLOUT, VersionChange.REPLACE_CANARY):
            rollout_steps.begin_rollout(md, body, inputs[0], previous, config)
        elif inputs is not None and change is VersionChange.ABORT_TO_STABLE:
            rollout_steps.abort_rollout(md, body, inputs[0], previous, config)
        # CONTINUE, KEEP_REJECTED, KEEP_STOPPED: the rollout timer (or the user's next edit) moves things on.
    except kopf.PermanentError as error:
        _degrade(body, patch, previous, describe_rejected_manifest(error), now, logger)


def serve_in_place(
    md: ModelDeployment, body: kopf.Body, previous: dict[str, Any], config: Settings,
    now: datetime,
) -> None:  # fmt: skip
    """No rollout: the stable Deployment serves the spec's model (a new one rolls its pods)."""
    target = stable_target(md)
    k8s.apply(build_service(md), config.field_manager)
    autoscaler.prepare_stable_for_autoscaler(md, config)
    deployment = k8s.apply(build_serving_deployment(md, target, config), config.field_manager)
    autoscaler.apply_autoscaler(md, config)
    for manifest in build_steady_traffic(md):
        k8s.apply(manifest, config.field_manager)
    if previous.get("canaryVersion") or previous.get("canaryRetireAt"):
        # No traffic reaches a canary outside a rollout.
        canary = deployment_name(md.metadata.name, "canary")
        k8s.scale(k8s.DEPLOYMENT, md.metadata.namespace, canary, 0, owner_uid=md.metadata.uid)
    report_stable(md, body, target, deployment, previous, now)
    if previous.get("stableVersion") != target.model_version:
        # kopf.event, not kopf.info: posting.level (WARNING) would silently drop an info.
        kopf.event(body, type="Normal", reason="Deploying", message=deploying_message(target))


def report_stable(
    md: ModelDeployment, body: kopf.Body, target: ServingTarget, deployment: dict[str, Any],
    previous: dict[str, Any], now: datetime,
) -> None:  # fmt: skip
    """Write the status the stable Deployment gives; a readiness update that landed meanwhile wins.

    With a precondition: a late stale "Pending" would stick forever. When the write loses to
    stable_readiness (it writes first when the pods got Ready before this write, or on an existing
    ModelDeployment), deciding again needs only the fresh ModelDeployment and Deployment, not the
    whole handler again: the objects are applied already.
    Anything else that wrote meanwhile (a new generation, a rollout) makes the handler run again.
    """
    status, resource_version = previous, body.metadata.get("resourceVersion")
    for _attempt in range(STATUS_WRITE_ATTEMPTS):
        desired = serving_status(
            previous=status,
            generation=md.metadata.generation,
            stable_version=target.model_version,
            stable_uri=target.model_uri,
            stable=DeploymentReadiness.of(deployment),
            now=now,
        ) | replica_status(deployment)
        changes = status_patch(status, desired)
        if not changes:
            return
        try:
            k8s.patch_status(k8s.MODEL_DEPLOYMENT, md.metadata.namespace, md.metadata.name, changes,
                             resource_version=resource_version)  # fmt: skip
            return
        except k8s.Conflict:
            fresh = k8s.get(k8s.MODEL_DEPLOYMENT, md.metadata.namespace, md.metadata.name)
            if not _only_readiness_changed(md, previous, fresh):
                raise
            assert fresh is not None  # for mypy: _only_readiness_changed said so
            status, resource_version = dict(fresh.get("status") or {}), fresh["metadata"]["resourceVersion"]
            deployment = k8s.get(k8s.DEPLOYMENT, md.metadata.namespace, deployment["metadata"]["name"]) or {}
    raise kopf.TemporaryError("the status kept changing while it was written; deciding again", delay=1.0)


def _only_readiness_changed(
    md: ModelDeployment, previous: dict[str, Any], fresh: dict[str, Any] | None
) -> bool:
    """Whether the object read after a conflict differs from what the handler read only by what
    stable_deployment_changed writes: same object and generation, a steady phase before and after."""
    if fresh is None or fresh.get("metadata", {}).get("uid") != md.metadata.uid:
        return False
    if fresh["metadata"].get("generation") != md.metadata.generation:
        return False
    fresh_phase = (fresh.get("status") or {}).get("phase")
    return previous.get("phase") in STEADY_PHASES and fresh_phase in STEADY_PHASES


def _degrade(
    body: kopf.Body, patch: kopf.Patch, previous: dict[str, Any], message: str, now: datetime,
    logger: kopf.Logger,
) -> NoReturn:  # fmt: skip
    """Mark Degraded with a message naming the field, tell the user, and stop retrying this spec."""
    # The API server's or a validator's words may quote a model URI; none leaves here with secrets.
    uris = (str(body.spec.get("model", {}).get("uri", "")), *(str(previous.get(k) or "") for k in URI_FIELDS))
    message = redact_uris_in(message, *uris)
    generation = body.metadata.get("generation")
    degraded = invalid_spec_status(previous=previous, generation=generation, message=message, now=now)
    patch.status.update(status_patch(previous, degraded))
    logger.warning("degraded: %s", message, extra={"decision": "degraded"})
    kopf.warn(body, reason="InvalidSpec", message=message)
    raise kopf.PermanentError(message)


def stable_target(md: ModelDeployment) -> ServingTarget:
    """Without a rollout strategy the spec's model is served by the stable track directly."""
    return ServingTarget(
        track="stable",
        model_uri=md.spec.model.uri,
        model_version=md.spec.model.version_label(),
        # Under an autoscaler the Deployment is built without a count: the HPA sets it.
        replicas=None if md.spec.serving.autoscaling is not None else md.spec.serving.fixed_replicas,
    )
