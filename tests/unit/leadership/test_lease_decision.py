"""The leader election decision: create, acquire, renew or wait, from the Lease, what was seen, and now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ferryman.leadership import (
    LeaseAction,
    LeaseRecord,
    LeaseTiming,
    Sighting,
    decide,
    parse_lease,
    released_spec,
    renewal_overdue,
)

pytestmark = pytest.mark.unit

TIMING = LeaseTiming(lease_duration_seconds=10, renew_deadline_seconds=7, retry_period_seconds=1)
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def held_by(holder: str, renewed: str = "2026-01-01T11:00:00.000000Z", transitions: int = 3) -> LeaseRecord:
    return LeaseRecord(holder, 10, "2026-01-01T10:00:00.000000Z", renewed, transitions, "42")


def test_no_lease_is_created_held_by_us() -> None:
    decision = decide(None, None, T0, "me", TIMING)
    assert decision.action is LeaseAction.CREATE
    assert decision.spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 10,
        "acquireTime": "2026-01-01T12:00:00.000000Z",
        "renewTime": "2026-01-01T12:00:00.000000Z",
        "leaseTransitions": 0,
    }


def test_our_own_lease_is_renewed_keeping_its_acquire_time_and_transitions() -> None:
    decision = decide(held_by("me"), None, T0, "me", TIMING)
    assert decision.action is LeaseAction.RENEW
    assert decision.spec is not None
    assert decision.spec["renewTime"] == "2026-01-01T12:00:00.000000Z"
    assert decision.spec["acquireTime"] == "2026-01-01T10:00:00.000000Z"
    assert decision.spec["leaseTransitions"] == 3


def test_a_lease_first_seen_is_waited_on_for_a_whole_duration_whatever_its_renew_time_says() -> None:
    """The holder's renewTime comes from another node's clock: never compared with ours."""
    decision = decide(held_by("other"), None, T0, "me", TIMING)
    assert decision.action is LeaseAction.WAIT
    assert decision.sighting == Sighting("other", "2026-01-01T11:00:00.000000Z", T0)


def test_a_lease_unchanged_for_its_duration_on_our_clock_is_taken_over() -> None:
    first = decide(held_by("other"), None, T0, "me", TIMING)
    before = decide(held_by("other"), first.sighting, T0 + timedelta(seconds=9.9), "me", TIMING)
    assert before.action is LeaseAction.WAIT
    after = decide(held_by("other"), before.sighting, T0 + timedelta(seconds=10), "me", TIMING)
    assert after.action is LeaseAction.ACQUIRE
    assert after.spec is not None
    assert after.spec["holderIdentity"] == "me"
    assert after.spec["leaseTransitions"] == 4
    assert after.spec["acquireTime"] == "2026-01-01T12:00:10.000000Z"


def test_a_renewal_seen_restarts_the_wait() -> None:
    first = decide(held_by("other"), None, T0, "me", TIMING)
    renewed = held_by("other", renewed="2026-01-01T11:00:08.000000Z")
    seen = decide(renewed, first.sighting, T0 + timedelta(seconds=8), "me", TIMING)
    assert seen.action is LeaseAction.WAIT
    later = decide(renewed, seen.sighting, T0 + timedelta(seconds=17), "me", TIMING)
    assert later.action is LeaseAction.WAIT
    assert (
        decide(renewed, later.sighting, T0 + timedelta(seconds=18), "me", TIMING).action
        is LeaseAction.ACQUIRE
    )


def test_the_lease_duration_written_in_the_lease_wins_over_ours() -> None:
    """The holder says how long its renewals last; a standby configured shorter must not cut it off."""
    long_lease = LeaseRecord("other", 30, None, "2026-01-01T11:00:00.000000Z", 0, "1")
    first = decide(long_lease, None, T0, "me", TIMING)
    assert (
        decide(long_lease, first.sighting, T0 + timedelta(seconds=20), "me", TIMING).action
        is LeaseAction.WAIT
    )
    assert (
        decide(long_lease, first.sighting, T0 + timedelta(seconds=30), "me", TIMING).action
        is LeaseAction.ACQUIRE
    )


def test_a_released_lease_is_free_at_once() -> None:
    released = LeaseRecord("", 1, None, "2026-01-01T11:00:00.000000Z", 5, "7")
    decision = decide(released, None, T0, "me", TIMING)
    assert decision.action is LeaseAction.ACQUIRE


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(10, 10, 1), (10, 7, 7), (10, 12, 1)])
def test_timing_must_let_the_leader_give_up_before_a_standby_takes_over(
    duration: int, deadline: float, retry: float
) -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        LeaseTiming(duration, deadline, retry)


def test_a_lease_object_is_read_with_its_resource_version() -> None:
    lease = {
        "metadata": {"name": "ferryman", "resourceVersion": "99"},
        "spec": {
            "holderIdentity": "pod-a",
            "leaseDurationSeconds": 10,
            "renewTime": "2026-01-01T11:00:00.000000Z",
        },
    }
    record = parse_lease(lease)
    assert record == LeaseRecord("pod-a", 10, None, "2026-01-01T11:00:00.000000Z", 0, "99")


def test_a_lease_released_on_shutdown_has_no_holder_and_keeps_its_transitions() -> None:
    """A clean shutdown hands over at the standby's next look, not after a whole lease duration."""
    spec = released_spec(held_by("me", transitions=4), T0)
    assert spec["holderIdentity"] == ""
    assert spec["leaseTransitions"] == 4
    released = LeaseRecord("", spec["leaseDurationSeconds"], spec["acquireTime"], spec["renewTime"], 4, "8")
    first_look = decide(released, None, T0, "standby", TIMING)
    assert first_look.action is LeaseAction.ACQUIRE
    assert first_look.spec is not None and first_look.spec["leaseTransitions"] == 5


def test_the_leader_stops_once_its_last_renewal_is_a_renew_deadline_ago() -> None:
    """7 s without a renewal (a 10 s lease): stop, 3 s before any standby may take over."""
    assert not renewal_overdue(renewed_at=100.0, now=106.9, timing=TIMING)
    assert renewal_overdue(renewed_at=100.0, now=107.0, timing=TIMING)
