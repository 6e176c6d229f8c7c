"""Pure status logic: conditions that keep their transition times, and minimal status patches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ferryman.api.base import MAX_TEXT
from ferryman.api.meta import MAX_CONDITION_MESSAGE
from ferryman.api.vocabulary import format_timestamp

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class DeploymentReadiness:
    """What a Deployment's status says about its rollout, reduced to what the operator acts on."""

    ready: bool
    message: str

    @classmethod
    def of(cls, deployment: dict[str, Any] | None) -> DeploymentReadiness:
        if deployment is None:
            return cls(False, "Deployment not created yet")
        spec, status = deployment.get("spec", {}), deployment.get("status", {})
        want = int(spec.get("replicas", 1))
        ready = int(status.get("readyReplicas", 0))
        if ready == 0 and want > 0:
            # Nothing serves yet: how far pod creation has got is not worth a status write per step
            # (a thousand new ModelDeployments would cost thousands of writes).
            return cls(False, f"0/{want} replicas ready")
        if status.get("observedGeneration", 0) < deployment.get("metadata", {}).get("generation", 0):
            return cls(False, "Deployment change not yet observed by its controller")
        updated = int(status.get("updatedReplicas", 0))
        total = int(status.get("replicas", 0))
        if updated < want or ready < want or total > want:
            return cls(False, f"{ready}/{want} replicas ready, {updated} updated, {total} total")
        return cls(True, f"{ready}/{want} replicas ready")


def condition(
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    now: datetime,
    previous: list[dict[str, Any]] | None,
    generation: int | None = None,
) -> dict[str, Any]:
    """A condition whose lastTransitionTime only moves when its status changes (no churn on resync)."""
    before = next((c for c in previous or [] if c.get("type") == kind), None)
    moved = before is None or before.get("status") != status
    since = format_timestamp(now) if before is None or moved else before.get("lastTransitionTime")
    result: dict[str, Any] = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": within_limit(message, MAX_CONDITION_MESSAGE),
        "lastTransitionTime": since,
    }
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def with_other_conditions(
    conditions: list[dict[str, Any]], previous: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """`conditions` plus the previous ones of other types: each writer owns only its own conditions
    (the rollout its Ready/Progressing/Degraded, the registry link RegistryReachable and AliasFollowed)."""
    # The order stays as it was (new types at the end), so that two writers never flip it back and forth.
    mine = {c["type"]: c for c in conditions}
    kept = [mine.pop(c.get("type"), c) for c in previous or []]
    return [*kept, *mine.values()]


def status_patch(current: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The keys of desired whose values differ from current: empty means nothing to write.

    A message longer than status.message may hold is cut first (every kind's schema caps it at
    MAX_TEXT): a write the API server refuses would fail the same way on every retry.
    """
    current = current or {}
    message = desired.get("message")
    if isinstance(message, str) and len(message) > MAX_TEXT:
        desired = {**desired, "message": within_limit(message, MAX_TEXT)}
    return {key: value for key, value in desired.items() if current.get(key) != value}


def within_limit(message: str, limit: int) -> str:
    """The message, cut to `limit` characters saying so.

    A message the schema refuses fails the whole status write, every time: a drift monitor listing
    hundreds of drifted features, or a rollout judged on 32 metrics, would never report again.
    """
    if len(message) <= limit:
        return message
    note = " ... (cut: {} more characters)"
    room = limit - len(note.format(len(message)))  # the note never has more digits
    return message[:room] + note.format(len(message) - room)
