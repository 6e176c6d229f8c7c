"""ModelDeployment handlers: read the resource, decide with pure builders, apply, report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import GROUP, VERSION, ModelDeployment, redact_uris_in
from ferryman.api.vocabulary import ACTIVE_PHASES
from ferryman.builders.naming import STABLE_DEPLOYMENT_LABELS, deployment_name
from ferryman.builders.rollout_plan import RolloutInputs, rollout_inputs
from ferryman.builders.serving import (
    ServingTarget,
    build_service,
    build_serving_deployment,
    check_model_source,
    controlling_model_deployment,
    deploying_message,
    served_model_of,
)
from ferryman.builders.serving_status import invalid_spec_status, replica_status, serving_status
from ferryman.builders.status import DeploymentReadiness, status_patch
from ferryman.builders.traffic import build_steady_traffic
from ferryman.builders.version_change import VersionChange, classify_version_change, version_label_in
from ferryman.config import Settings
from ferryman.handlers import autoscaler, registry_link, rollout_steps
from ferryman.handlers.spec_errors import describe_rejected_manifest, describe_validation_error

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
        _degrade(body, patch, previous, describe_validation_error(error), now, logger)
    try:
        check_model_source(md, config)
        inputs = rollout_inputs(md, config)
    except (ValidationError, ValueError) as error:
        message = describe_validation_error(error)
        if previous.get("phase") in ACTIVE_PHASES:  # a rollout that can no longer be judged stops
            rollout_steps.stop_unjudgeable_rollout(md, body, previous, config, message)
        _degrade(body, patch, previous, message, now, logger)
    spec_changed = md.metadata.generation != previous.get("observedGeneration")
    # An alias is asked afresh when the spec changed; on an operator restart the shared cache asks once.
    resolved = registry_link.resolve_spec(md, previous, memo, patch, fresh=spec_changed)
    md, change = classify(
        resolved.md, previous, inputs, spec_changed=spec_changed, rejection_lifted=resolved.rejection_lifted
    )
    carry_out(md, change, inputs, body, patch, previous, config, now, logger)


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
    stable_deployment_changed (it reports a new Deployment's readiness as soon as the Deployment
    exists, so for a new ModelDeployment it nearly always writes first), deciding again needs only the
    fresh ModelDeployment and Deployment, not the whole handler again: the objects are applied already.
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


OWNERS_INDEX = "model_deployment_owners"  # Kopf passes an index to handlers as the keyword of its id


@kopf.index(GROUP, VERSION, PLURAL, id=OWNERS_INDEX)
async def model_deployment_owners(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str | None, str], dict[str, Any]]:
    """Each ModelDeployment's identity and status as the operator's own watch last saw them: the
    Deployment handler reads its owner here instead of asking the API server on every readiness change.

    Async on purpose: Kopf indexes every event before handling it, and a sync indexer would wait for a
    thread of the pool that slow handlers hold; Kopf then sees its own annotation patch arrive later
    than its consistency timeout and runs the creation handler a second time (seen: 155 of 200)."""
    metadata = {key: body.metadata.get(key) for key in ("uid", "resourceVersion", "generation")}
    return {(namespace, name): {"metadata": metadata, "status": dict(body.status)}}


def _owner_as_watched(
    owners: kopf.Index[tuple[str | None, str], dict[str, Any]], namespace: str | None, name: str, uid: str
) -> dict[str, Any] | None:
    """The watched owner of that uid, or None (not seen yet, or a namesake): then it is read."""
    watched = next(iter(owners.get((namespace, name), [])), None)
    return watched if watched is not None and watched["metadata"]["uid"] == uid else None


@kopf.on.event("apps", "v1", "deployments", labels=STABLE_DEPLOYMENT_LABELS)
def stable_deployment_changed(body: kopf.Body, namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    """Readiness of the stable pods flows into the owner's status (written only when it changes).

    The labels only narrow the watch; the owner is the one in the controller ownerReference, and only
    its own stable Deployment counts. Event handlers are not retried, so this one reads the owner
    fresh and retries a lost race itself. Most events of a Deployment change nothing the status shows
    (conditions, observed generation); what was last reported for this Deployment (Kopf's memo is per
    object) spares reading the owner for those: a thousand ModelDeployments cost thousands of reads.
    The owner comes from the operator's own watch (an index); the write's resourceVersion precondition
    catches a watch that lags, and the retry then reads it fresh.
    """
    deployment = dict(body)
    controller = controlling_model_deployment(deployment)
    if controller is None or deployment.get("metadata", {}).get("deletionTimestamp"):
        return
    md_name, md_uid = controller
    if deployment.get("metadata", {}).get("name") != deployment_name(md_name, "stable"):
        return
    version, uri = served_model_of(deployment)
    readiness = DeploymentReadiness.of(deployment)
    reported = (version, uri, readiness, tuple(sorted(replica_status(deployment).items())))
    if getattr(memo, "reported_readiness", None) == reported:
        return
    watched = _owner_as_watched(kwargs[OWNERS_INDEX], namespace, md_name, md_uid)
    for attempt in range(STATUS_WRITE_ATTEMPTS):
        owner = (watched if attempt == 0 else None) or k8s.get(k8s.MODEL_DEPLOYMENT, namespace, md_name)
        if owner is None or owner.get("metadata", {}).get("uid") != md_uid:
            return
        previous = dict(owner.get("status") or {})
        if not previous and not readiness.ready:
            # The owner's first reconcile has not reported yet and reports this Deployment itself;
            # writing "not ready" before it would only make its write lose the race and start over.
            return
        desired = replica_status(deployment)
        steady = previous.get("phase") in STEADY_PHASES  # a rollout owns the rest of the status otherwise
        if steady:
            desired |= serving_status(
                previous=previous,
                generation=previous.get("observedGeneration"),
                stable_version=version,
                stable_uri=uri,
                stable=readiness,
                now=datetime.now(UTC),
            )
        changes = status_patch(previous, desired)
        try:
            if changes:
                rv = owner["metadata"]["resourceVersion"]
                k8s.patch_status(k8s.MODEL_DEPLOYMENT, namespace, md_name, changes, resource_version=rv)
        except kopf.TemporaryError:  # a conflict: someone wrote first; read again and decide again
            continue
        # Whoever writes this status later (the reconcile handler, a rollout) decides from a Deployment
        # read after this one, so nothing staler than this can replace it. During a rollout only the
        # replica counts were written: look again afterwards. "Nothing to write" seen in a watch that
        # may lag is not remembered either: the next event of this Deployment looks again.
        settled = bool(changes) or owner is not watched
        memo.reported_readiness = reported if steady and settled else None
        return
