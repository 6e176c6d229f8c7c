"""Leader election on a coordination.k8s.io/v1 Lease: the pure decision (lease.py); the API calls are in
ferryman.handlers.leader_election."""

from ferryman.leadership.lease import (
    LeaseAction,
    LeaseDecision,
    LeaseRecord,
    LeaseTiming,
    Sighting,
    decide,
    lease_spec,
    parse_lease,
    released_spec,
    renewal_overdue,
)

__all__ = [
    "LeaseAction",
    "LeaseDecision",
    "LeaseRecord",
    "LeaseTiming",
    "Sighting",
    "decide",
    "lease_spec",
    "parse_lease",
    "released_spec",
    "renewal_overdue",
]
