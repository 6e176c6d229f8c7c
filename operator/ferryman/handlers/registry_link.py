"""A spec that tracks an MLflow alias: resolved here, pinned in the pods, the registry kept in step.

`resolve_spec` turns `models:/NAME@ALIAS` into the pinned `models:/NAME/N` the reconcile serves. The
alias timer (alias_follow) looks again every poll period, follows a move, and writes back what the
rollout decided (`write_back`). The decisions are pure (builders.registry_link); this module only
asks the registry (through the process's AliasCache, one request per alias per poll) and reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from ferryman.api import ACTION_ANNOTATION, ModelDeployment
from ferryman.api.vocabulary import ACTIVE_PHASES
from ferryman.builders.registry_link import (
    REJECTED_TAG,
    AliasFollow,
    RegistryWrites,
    alias_status,
    decide_alias_follow,
    owner_key,
    rejection_lifted,
    tag_key,
)
from ferryman.builders.status import status_patch
from ferryman.registry.mlflow import AliasNotFound, AliasTarget, RegistryError

REGISTRY_RETRY_SECONDS = 10.0
log = logging.getLogger("ferryman.registry")


def tracks_alias(spec: kopf.Spec, **_: Any) -> bool:
    """Kopf filter: the spec names a registry alias (the alias timer runs only for these)."""
    uri = str((spec.get("model") or {}).get("uri") or "")
    return uri.startswith("models:/") and "@" in uri


@dataclass(frozen=True, slots=True)
class AliasLook:
    """One look at the tracked alias: its target, or why the registry could not say."""

    model: str
    alias: str
    target: AliasTarget | None
    error: str | None
    error_reason: str = "RegistryUnreachable"

    def follow(self, status: dict[str, Any], owner: str) -> AliasFollow | None:
        if self.target is None:
            return None
        return decide_alias_follow(
            status, self.model, self.alias, self.target.version, self.target.tags, owner
        )


def look_up(md: ModelDeployment, memo: kopf.Memo, *, fresh: bool) -> AliasLook | None:
    """Where the spec's alias points now (None: the spec pins its model, nothing to look up)."""
    parsed = md.spec.model.parsed()
    if parsed.alias is None or parsed.registered_model is None:
        return None
    model, alias = parsed.registered_model, parsed.alias
    cache = getattr(memo, "aliases", None)
    if cache is None:  # check_model_source reports a registry URI without a registry configured
        return AliasLook(model, alias, None, "no MLflow registry configured (FERRYMAN_MLFLOW_TRACKING_URI)")
    try:
        return AliasLook(model, alias, cache.lookup(model, alias, fresh=fresh), None)
    except AliasNotFound as error:
        return AliasLook(model, alias, None, str(error), "AliasNotFound")
    except RegistryError as error:
        return AliasLook(model, alias, None, str(error))


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    md: ModelDeployment  # spec.model.uri pinned to a registry version
    rejection_lifted: bool


def resolve_spec(
    md: ModelDeployment, previous: dict[str, Any], memo: kopf.Memo, patch: kopf.Patch, *, fresh: bool
) -> ResolvedSpec:
    """The spec with its alias replaced by the version to serve.

    The alias's version when it may be followed; otherwise (registry unreachable, or the version was
    rejected here) what already runs, so that nothing users see changes on a guess. With nothing
    running yet and no answer from the registry, the status says why and the reconcile is retried.
    """
    look = look_up(md, memo, fresh=fresh)
    if look is None:
        return ResolvedSpec(md, rejection_lifted=False)
    owner = owner_key(md.metadata.namespace, md.metadata.name)
    follow = look.follow(previous, owner)
    if look.target is not None and follow is not None and follow.blocked is None:
        lifted = rejection_lifted(previous, look.model, look.target.tags, owner)
        return ResolvedSpec(md.with_model_uri(follow.uri), rejection_lifted=lifted)
    held = held_uri(previous)
    if held is None:
        message = f"spec.model.uri: cannot resolve alias {look.alias} of {look.model}: {look.error}"
        waiting = alias_status(
            previous, model=look.model, alias=look.alias, version=None, error=look.error,
            error_reason=look.error_reason, follow=None, record=None, now=datetime.now(UTC),
        )  # fmt: skip
        patch.status.update(status_patch(previous, {**waiting, "phase": "Pending", "message": message}))
        raise kopf.TemporaryError(message, delay=REGISTRY_RETRY_SECONDS)
    return ResolvedSpec(md.with_model_uri(held), rejection_lifted=False)


def held_uri(previous: dict[str, Any]) -> str | None:
    """What runs now: the canary in flight, else stable."""
    if previous.get("phase") in ACTIVE_PHASES and previous.get("canaryUri"):
        return str(previous["canaryUri"])
    stable = previous.get("stableUri")
    return str(stable) if stable else None


def write_back(memo: kopf.Memo, look: AliasLook, writes: RegistryWrites) -> None:
    """Tag first (the tag is what keeps the version from being rolled out again), then move the alias
    back, but only if a fresh look shows it still on the rejected version. RegistryError on failure:
    the caller retries on a later tick, and the record is written only after everything succeeded."""
    registry, cache = memo.registry, memo.aliases
    tag = writes.tag
    registry.set_version_tag(look.model, tag.version, tag.key, tag.value)
    log.info("tagged %s version %s: %s", look.model, tag.version, tag.key)
    if writes.move_alias_to is None:
        return
    current = cache.lookup(look.model, look.alias, fresh=True)
    if current.version != writes.move_alias_from:
        log.info("alias %s of %s moved meanwhile to %s: left there", look.alias, look.model, current.version)
        return
    registry.set_alias(look.model, look.alias, writes.move_alias_to)
    cache.invalidate(look.model, look.alias)
    log.info("alias %s of %s moved back to %s", look.alias, look.model, writes.move_alias_to)


def lift_rejection(md: ModelDeployment, previous: dict[str, Any], memo: kopf.Memo) -> str | None:
    """`ferryman promote` with no rollout in progress, while the alias names a version rejected here:
    remove its rejected tag, so that the alias timer rolls it out. None when there is nothing to lift.

    ValueError (shown in an ActionIgnored Event) when the registry cannot be asked or written.
    """
    look = look_up(md, memo, fresh=True)
    if look is None:
        return None
    if look.target is None:
        raise ValueError(f"{ACTION_ANNOTATION}=promote: the registry could not be asked: {look.error}")
    owner = owner_key(md.metadata.namespace, md.metadata.name)
    follow = look.follow(previous, owner)
    if follow is None or follow.blocked is None:
        return None
    key = tag_key(REJECTED_TAG, owner)
    try:
        memo.registry.delete_version_tag(look.model, look.target.version, key)
    except RegistryError as error:
        raise ValueError(f"{ACTION_ANNOTATION}=promote: {error}") from None
    memo.aliases.invalidate(look.model, look.alias)
    return f"removed {key} from {look.model} version {look.target.version}; rolling it out"
