"""Who leads: a pure function of the Lease as read, what this replica saw of it before, the time, and its
identity. The same rules as client-go's leaderelection package:

- a Lease held by another replica is expired only when its record (holder, renew time) has not changed for
  leaseDurationSeconds *as measured on this replica's clock* since it first saw that record: clocks of
  two nodes may disagree, so the renewTime written by the holder is never compared with our clock;
- a Lease with no holder (released on a clean shutdown) is free at once;
- the leader renews every retry period; if it cannot renew for renew_deadline_seconds (shorter than the
  lease duration) it must stop acting before any other replica may take the Lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

# The Lease API's MicroTime: RFC 3339 with microseconds.
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's three durations (their values and meaning: Settings.leader_election_*)."""

    lease_duration_seconds: int
    renew_deadline_seconds: float
    retry_period_seconds: float

    def __post_init__(self) -> None:
        # The leader must give up before a standby may take over, or both act for a moment.
        if not self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                "leader election needs retry period < renew deadline < lease duration, got "
                f"{self.retry_period_seconds} / {self.renew_deadline_seconds} / {self.lease_duration_seconds}"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The spec of a Lease as read, with the resourceVersion a replacement must name."""

    holder: str
    lease_duration_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str


@dataclass(frozen=True)
class Sighting:
    """The record this replica last saw, and when (its own clock) it first saw it unchanged."""

    holder: str
    renew_time: str | None
    seen_at: datetime


class LeaseAction(Enum):
    CREATE = "create"  # no Lease yet: create it, held by us
    ACQUIRE = "acquire"  # free or expired: take it over (a transition)
    RENEW = "renew"  # ours: write a fresh renewTime
    WAIT = "wait"  # another replica holds it and is alive


@dataclass(frozen=True)
class LeaseDecision:
    action: LeaseAction
    sighting: Sighting | None
    spec: dict[str, Any] | None
    """The Lease spec to write (CREATE, ACQUIRE, RENEW); None for WAIT."""


def decide(
    lease: LeaseRecord | None,
    last_sighting: Sighting | None,
    now: datetime,
    identity: str,
    timing: LeaseTiming,
) -> LeaseDecision:
    """What this replica does with the Lease now."""
    if lease is None:
        return LeaseDecision(LeaseAction.CREATE, None, lease_spec(identity, timing, now, now, transitions=0))
    sighting = _sighting(lease, last_sighting, now)
    if lease.holder == identity:
        spec = lease_spec(identity, timing, _parsed(lease.acquire_time) or now, now, lease.transitions)
        return LeaseDecision(LeaseAction.RENEW, sighting, spec)
    duration = timedelta(seconds=lease.lease_duration_seconds or timing.lease_duration_seconds)
    if lease.holder and now < sighting.seen_at + duration:
        return LeaseDecision(LeaseAction.WAIT, sighting, None)
    spec = lease_spec(identity, timing, now, now, lease.transitions + 1)
    return LeaseDecision(LeaseAction.ACQUIRE, sighting, spec)


def _sighting(lease: LeaseRecord, last: Sighting | None, now: datetime) -> Sighting:
    """The record's first sighting: kept while it is unchanged, restarted (now) when it changed."""
    if last is not None and (last.holder, last.renew_time) == (lease.holder, lease.renew_time):
        return last
    return Sighting(lease.holder, lease.renew_time, now)


def lease_spec(
    identity: str, timing: LeaseTiming, acquired: datetime, renewed: datetime, transitions: int
) -> dict[str, Any]:
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": timing.lease_duration_seconds,
        "acquireTime": _micro_time(acquired),
        "renewTime": _micro_time(renewed),
        "leaseTransitions": transitions,
    }


def renewal_overdue(renewed_at: float, now: float, timing: LeaseTiming) -> bool:
    """The leader must stop: its last successful renewal (a monotonic clock) is a renew deadline ago."""
    return now - renewed_at >= timing.renew_deadline_seconds


def released_spec(lease: LeaseRecord, now: datetime) -> dict[str, Any]:
    """The Lease a leader leaves on a clean shutdown: no holder, so a standby takes it at its next look
    instead of waiting out the lease duration (client-go's ReleaseOnCancel)."""
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": _micro_time(now),
        "renewTime": _micro_time(now),
        "leaseTransitions": lease.transitions,
    }


def parse_lease(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((obj.get("metadata") or {}).get("resourceVersion") or ""),
    )


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MICRO_TIME_FORMAT)


def _parsed(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
