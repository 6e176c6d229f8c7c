"""Everything a rollout must remember, as frozen data that round-trips through `.status`.

The operator can be killed at any moment: the next reconcile rebuilds this from `.status` with
`RolloutState.from_status` and carries on, so no fact lives only in memory.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from ferryman.api.vocabulary import (
    TERMINAL_PHASES,
    Outcome,
    PauseReason,
    Phase,
    StrategyKind,
    format_timestamp,
)
from ferryman.rollout.evidence import Evidence


class StatusError(ValueError):
    """`.status` holds a value this code cannot read; the message names the field."""


def require_aware(name: str, moment: datetime) -> datetime:
    """Reject naive datetimes: mixing them with aware ones breaks deadline arithmetic."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: {moment.isoformat()} has no timezone; pass an aware UTC datetime")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RolloutState:
    """The rollout's memory.

    `window_started_at` opens the analysis window the handler must query (it stays open while a
    low-traffic window is inconclusive, so evidence accumulates); `unready_since` is when the canary
    was last seen turning not Ready (progressDeadline counts from it); `evidence` is what each count
    check learned from the windows closed so far (judge.py); `analysis_errors` counts consecutive
    failed metric reads; `canary_retire_at` is when a finished rollout's canary pods may go; `end_reason`
    is the reason of the Warning that ended a rollout without promotion (RolledBack, RolloutStopped, ...).
    """

    phase: Phase
    strategy: StrategyKind
    stable_version: str
    canary_version: str | None
    canary_weight: int = 0
    current_step_index: int = 0
    rollout_started_at: datetime | None = None
    step_started_at: datetime | None = None
    window_started_at: datetime | None = None
    traffic_started_at: datetime | None = None
    unready_since: datetime | None = None
    failed_checks: int = 0
    analysis_errors: int = 0
    pause_reason: PauseReason | None = None
    last_verdict: Outcome | None = None
    message: str = ""
    evidence: Mapping[str, Evidence] = field(default_factory=dict)
    canary_retire_at: datetime | None = None
    end_reason: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise StatusError(f"status.canaryWeight: {self.canary_weight} is outside 0..100")
        if min(self.current_step_index, self.failed_checks, self.analysis_errors) < 0:
            raise StatusError("status.currentStep, failedChecks and analysisErrors must be >= 0")
        if self.phase not in TERMINAL_PHASES and self.phase is not Phase.PENDING and not self.canary_version:
            raise StatusError(f"status.canaryVersion: empty while phase is {self.phase}")

    @property
    def stable_weight(self) -> int:
        return 100 - self.canary_weight

    @property
    def is_terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def to_status(self) -> dict[str, Any]:
        """A JSON-ready dict for `.status` (camelCase keys, ISO-8601 UTC timestamps)."""
        status: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, datetime):
                value = format_timestamp(value)
            elif spec.name == "evidence":
                value = {name: evidence.to_status() for name, evidence in sorted(value.items())}
            elif isinstance(value, enum.Enum):
                value = value.value
            status[_STATUS_KEYS[spec.name]] = value
        return status

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> RolloutState:
        """Inverse of `to_status`; missing optional keys take their defaults."""
        values: dict[str, Any] = {}
        for attribute, key in _STATUS_KEYS.items():
            if key in status and status[key] is not None:
                values[attribute] = _PARSERS[attribute](key, status[key])
        for required in ("phase", "strategy", "stable_version"):
            if required not in values:
                raise StatusError(f"status.{_STATUS_KEYS[required]}: missing")
        values.setdefault("canary_version", None)
        return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_STATUS_KEYS = {spec.name: _camel(spec.name) for spec in fields(RolloutState)}
_STATUS_KEYS["current_step_index"] = "currentStep"


def _parse_time(key: str, raw: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError as error:
        raise StatusError(f"status.{key}: {raw!r} is not an ISO-8601 timestamp") from error
    if moment.tzinfo is None:
        raise StatusError(f"status.{key}: {raw!r} has no timezone; expected e.g. 2026-01-01T00:00:00Z")
    return moment.astimezone(UTC)


E = TypeVar("E", bound=enum.Enum)


def _enum_parser(kind: type[E]) -> Callable[[str, Any], E]:
    def parse(key: str, raw: Any) -> E:
        try:
            return kind(raw)
        except ValueError as error:
            allowed = ", ".join(str(member.value) for member in kind)
            raise StatusError(f"status.{key}: {raw!r} is not one of {allowed}") from error

    return parse


def _parse_int(key: str, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
        raise StatusError(f"status.{key}: {raw!r} is not an integer")
    return int(raw)


def _parse_evidence(key: str, raw: Any) -> dict[str, Evidence]:
    if not isinstance(raw, dict):
        raise StatusError(f"status.{key}: {raw!r} is not an object")
    parsed = {}
    for name, entry in raw.items():
        try:
            parsed[str(name)] = Evidence.from_status(entry)
        except (TypeError, ValueError) as error:
            raise StatusError(f"status.{key}.{name}: {error}") from error
    return parsed


def _parse_str(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise StatusError(f"status.{key}: {raw!r} is not a string")
    return raw


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "phase": _enum_parser(Phase),
    "strategy": _enum_parser(StrategyKind),
    "stable_version": _parse_str,
    "canary_version": _parse_str,
    "canary_weight": _parse_int,
    "current_step_index": _parse_int,
    "rollout_started_at": _parse_time,
    "step_started_at": _parse_time,
    "window_started_at": _parse_time,
    "traffic_started_at": _parse_time,
    "unready_since": _parse_time,
    "failed_checks": _parse_int,
    "analysis_errors": _parse_int,
    "pause_reason": _enum_parser(PauseReason),
    "last_verdict": _enum_parser(Outcome),
    "message": _parse_str,
    "evidence": _parse_evidence,
    "canary_retire_at": _parse_time,
    "end_reason": _parse_str,
}
