"""Pure: a ModelDeployment that tracks an MLflow alias, and the registry kept in step with the cluster.

The operator resolves `models:/NAME@ALIAS` itself and gives the pods the pinned `models:/NAME/N`, so a
pod restart never changes what is served. Each look at the registry yields the alias's version and
that version's tags; from those and the status these functions decide

- which pinned URI the ModelDeployment should now serve (`decide_alias_follow`): the alias's version,
  unless that version is tagged rejected for this ModelDeployment;
- what to write back to the registry (`decide_registry_writes`): after a rollback (or a canary that
  ended Degraded) the alias goes back to the stable version, once, and the canary's version is tagged
  rejected with the reason; after a promotion the version is tagged promoted. `status.registryRecord`
  remembers what was written, so each write happens once however often the registry is looked at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ferryman.api import parse_model_uri
from ferryman.api.vocabulary import ROLLOUT_STOPPED, Phase, format_timestamp
from ferryman.builders.status import ConditionStatus, condition, with_other_conditions

REJECTED_TAG = "ferryman.dev/rejected"
PROMOTED_TAG = "ferryman.dev/promoted"
REJECTED = "rejected"
PROMOTED = "promoted"
FAILED_PHASES = frozenset({str(Phase.ROLLED_BACK), str(Phase.DEGRADED)})
MAX_TAG_VALUE = 5000  # MLflow's limit on a model version tag value


def pinned_uri(model: str, version: str) -> str:
    """The URI pods are given for one registry version."""
    return f"models:/{model}/{version}"


def owner_key(namespace: str | None, name: str) -> str:
    """How a tag names the ModelDeployment that wrote it (ModelDeployments are always namespaced)."""
    return f"{namespace or 'default'}/{name}"


def registry_version(uri: str | None, model: str) -> str | None:
    """The version number of a pinned URI of `model`; None for anything else."""
    if not uri:
        return None
    try:
        parsed = parse_model_uri(uri)
    except ValueError:
        return None
    return parsed.version if parsed.registered_model == model else None


def tag_key(prefix: str, owner: str) -> str:
    """One tag per ModelDeployment (`ferryman.dev/rejected/NAMESPACE/NAME`): two that track one alias
    never overwrite each other's verdict."""
    return f"{prefix}/{owner}"


def rejection_for(tags: Mapping[str, str], owner: str) -> str | None:
    """Why `owner` rejected this version, from its tags; None when it did not (or the tag is not ours)."""
    raw = tags.get(tag_key(REJECTED_TAG, owner))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("modelDeployment") != owner:
        return None
    return str(value.get("reason") or "rejected")


def tag_value(owner: str, now: datetime, reason: str | None = None) -> str:
    """A tag's value: which ModelDeployment, when, and why (the rollback message with its numbers)."""
    value: dict[str, Any] = {"modelDeployment": owner, "at": format_timestamp(now)}
    if reason is not None:
        value["reason"] = reason[: MAX_TAG_VALUE - 200]
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True, slots=True)
class AliasFollow:
    """Where the alias points and whether this ModelDeployment follows it there."""

    uri: str  # the pinned URI of the alias's version
    blocked: str | None  # why not (the version was rejected here), or None: follow


def decide_alias_follow(
    status: Mapping[str, Any], model: str, alias: str, version: str, tags: Mapping[str, str], owner: str
) -> AliasFollow:
    """Follow the alias to `version` unless this ModelDeployment rejected it and does not serve it already."""
    uri = pinned_uri(model, version)
    reason = rejection_for(tags, owner)
    # Nothing served yet: the first deploy is not a rollout, so there is nothing to refuse.
    if reason is None or uri == status.get("stableUri") or status.get("stableUri") is None:
        return AliasFollow(uri, None)
    blocked = (
        f"alias {alias} names version {version}, which this ModelDeployment rejected ({reason}); it is "
        f"not rolled out again: `ferryman promote` or removing the tag {tag_key(REJECTED_TAG, owner)} "
        f"from the version rolls it out"
    )
    return AliasFollow(uri, blocked)


def rejection_lifted(status: Mapping[str, Any], model: str, tags: Mapping[str, str], owner: str) -> bool:
    """The canary this ModelDeployment rejected and tagged has lost its tag: someone overrode the verdict."""
    canary = registry_version(status.get("canaryUri"), model)
    return (
        canary is not None
        and status.get("registryRecord") == written_record(REJECTED, canary, status)
        and rejection_for(tags, owner) is None
    )


@dataclass(frozen=True, slots=True)
class VersionTag:
    version: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RegistryWrites:
    """What to write to the registry now, and the `status.registryRecord` that says it was written.

    The alias moves back only if it still names the rejected version when looked at again just before
    (the handler checks): a move on stale data could undo someone else's newer move.
    """

    tag: VersionTag
    record: dict[str, str]
    move_alias_from: str | None = None  # the rejected version the alias must still name
    move_alias_to: str | None = None


def written_record(tag: str, version: str, status: Mapping[str, Any]) -> dict[str, str]:
    """One write per rollout: the same version rejected in a later rollout is written again."""
    return {"tag": tag, "version": version, "rolloutStartedAt": str(status.get("rolloutStartedAt"))}


def decide_registry_writes(
    status: Mapping[str, Any], model: str, alias_version: str, owner: str, now: datetime
) -> RegistryWrites | None:
    """After a rollback: alias back to stable and the canary tagged rejected; after a promotion: tagged."""
    record = status.get("registryRecord") or {}
    stable = registry_version(status.get("stableUri"), model)
    canary = registry_version(status.get("canaryUri"), model)
    phase = status.get("phase")
    # A rollout stopped because its spec became invalid never judged its canary: not a rejection.
    judged = status.get("endReason") != ROLLOUT_STOPPED
    if phase in FAILED_PHASES and canary is not None and judged:
        rejected = written_record(REJECTED, canary, status)
        if record == rejected:
            return None
        move = alias_version == canary and stable is not None
        return RegistryWrites(
            tag=VersionTag(
                canary, tag_key(REJECTED_TAG, owner), tag_value(owner, now, status.get("message"))
            ),
            record=rejected,
            move_alias_from=canary if move else None,
            move_alias_to=stable if move else None,
        )
    promoted_by_rollout = phase == str(Phase.SUCCEEDED) and status.get("rolloutStartedAt") is not None
    if promoted_by_rollout and stable is not None and stable == alias_version:
        promoted = written_record(PROMOTED, stable, status)
        if record == promoted:
            return None
        tag = VersionTag(stable, tag_key(PROMOTED_TAG, owner), tag_value(owner, now))
        return RegistryWrites(tag=tag, record=promoted)
    return None


def alias_status(
    previous: Mapping[str, Any],
    *,
    model: str,
    alias: str,
    version: str | None,
    error: str | None,
    error_reason: str = "RegistryUnreachable",
    follow: AliasFollow | None,
    record: Mapping[str, str] | None,
    now: datetime,
) -> dict[str, Any]:
    """The registry link's part of the status: the alias, what was written, and its two conditions.

    `error` (the registry could not be asked, `error_reason` RegistryUnreachable, or it has no such
    alias, AliasNotFound) keeps the version last seen: nothing is guessed.
    """
    before = previous.get("conditions")
    seen = (previous.get("alias") or {}).get("version") if error else version
    reachable = condition(
        "RegistryReachable",
        "False" if error else "True",
        error_reason if error else "RegistryAnswered",
        error or f"alias {alias} of {model} names version {version}",
        now=now,
        previous=before,
    )
    conditions = [reachable]
    if follow is not None:
        followed: ConditionStatus = "False" if follow.blocked else "True"
        reason = "VersionRejected" if follow.blocked else "Following"
        message = follow.blocked or f"serving what alias {alias} names: {follow.uri}"
        conditions.append(condition("AliasFollowed", followed, reason, message, now=now, previous=before))
    status: dict[str, Any] = {
        "alias": {"name": alias, "model": model, "version": seen},
        "conditions": with_other_conditions(conditions, before),
    }
    if record is not None:
        status["registryRecord"] = dict(record)
    return status
