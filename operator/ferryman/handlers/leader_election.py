"""Leader election: wait for the Lease before Kopf starts, renew it while running, stop when it is lost.

The decisions are ferryman.leadership's (pure, unit-tested); this module only reads and writes the Lease.
A replica that cannot renew within the renew deadline exits at once (os._exit): no handler of a replica
that may no longer lead runs another line, and the kubelet restarts the container as a standby, as
client-go operators do (klog.Fatal in OnStoppedLeading). Everything a rollout needs is in .status, so
the next leader carries on from there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf

from ferryman import k8s
from ferryman.config import Settings
from ferryman.leadership import (
    LeaseAction,
    LeaseDecision,
    LeaseTiming,
    Sighting,
    decide,
    parse_lease,
    released_spec,
    renewal_overdue,
)

log = logging.getLogger("ferryman.leader")
# Where the kubelet puts the pod's service account namespace (the chart's release namespace).
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Exit code of a replica that lost the Lease: not 0, so the kubelet restarts it (restartPolicy Always).
LOST_LEASE_EXIT_CODE = 3
# How often the renew deadline is checked: the leader stops at most this long after the deadline.
DEADLINE_CHECK_SECONDS = 0.2


class LeaseElector:
    """One replica's view of the Lease: try_once() reads it, decides, and writes what the decision says."""

    def __init__(self, namespace: str, name: str, identity: str, timing: LeaseTiming) -> None:
        self.namespace, self.name, self.identity, self.timing = namespace, name, identity, timing
        self.sighting: Sighting | None = None
        self.stopping = threading.Event()
        self.renewed_at = time.monotonic()
        self.taken_by: str | None = None

    @classmethod
    def from_settings(cls, config: Settings) -> LeaseElector:
        timing = LeaseTiming(
            config.leader_election_lease_duration_seconds,
            config.leader_election_renew_deadline_seconds,
            config.leader_election_retry_period_seconds,
        )
        namespace = config.leader_election_namespace or pod_namespace()
        identity = config.leader_election_identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        return cls(namespace, config.leader_election_lease_name, identity, timing)

    def try_once(self) -> bool:
        """True when this replica holds the Lease now (created, acquired or renewed it)."""
        found = k8s.get(k8s.LEASE, self.namespace, self.name)
        lease = parse_lease(found) if found is not None else None
        decision = decide(lease, self.sighting, datetime.now(UTC), self.identity, self.timing)
        self.sighting = decision.sighting
        if decision.action is LeaseAction.WAIT:
            return False
        self._write(decision, found)
        if decision.action is not LeaseAction.RENEW:
            log.info("leader election: %s the Lease %s/%s", decision.action.value, self.namespace, self.name)
        return True

    def _write(self, decision: LeaseDecision, found: dict[str, Any] | None) -> None:
        assert decision.spec is not None
        if decision.action is LeaseAction.CREATE:
            k8s.create(k8s.LEASE, self.namespace, self._manifest(decision.spec, None))
            return
        k8s.replace(k8s.LEASE, self.namespace, self.name, self._manifest(decision.spec, found))

    def _manifest(self, spec: dict[str, Any], found: dict[str, Any] | None) -> dict[str, Any]:
        """The Lease with `spec`; replacing `found`, with the resourceVersion read, so that a write by
        anyone else since makes the API server refuse ours (409)."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if found is not None:
            metadata["resourceVersion"] = (found.get("metadata") or {}).get("resourceVersion")
        return {
            "apiVersion": k8s.LEASE.api_version,
            "kind": k8s.LEASE.kind,
            "metadata": metadata,
            "spec": spec,
        }

    def attempt(self) -> bool:
        """try_once, with a refused or failed request counted as not holding the Lease (and logged)."""
        try:
            return self.try_once()
        except (kopf.TemporaryError, kopf.PermanentError) as error:
            log.warning("leader election: Lease %s/%s: %s", self.namespace, self.name, error)
            return False

    def wait_until_leading(self) -> None:
        """Block until this replica holds the Lease."""
        log.info("leader election: %s waits for the Lease %s/%s", self.identity, self.namespace, self.name)
        while not self.attempt():
            time.sleep(self.timing.retry_period_seconds)
        log.info("leader election: %s leads", self.identity)

    def keep_leading(self, on_lost: Callable[[], None]) -> list[threading.Thread]:
        """Renew every retry period on a thread of its own, and on_lost() once the renewal is overdue by
        the renew deadline or another replica holds the Lease. The deadline is watched on a second thread:
        a renewal request that hangs (up to the API timeout, longer than the lease) must not keep a leader
        acting after a standby may have taken over."""
        self.renewed_at = time.monotonic()
        threads = [
            threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True),
            threading.Thread(
                target=self._watch_deadline, args=(on_lost,), name="lease-deadline", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        return threads

    def _renew_loop(self) -> None:
        while not self.stopping.wait(self.timing.retry_period_seconds):
            if self.attempt():
                self.renewed_at = time.monotonic()
            elif self.sighting is not None and self.sighting.holder not in ("", self.identity):
                self.taken_by = self.sighting.holder
                return

    def _watch_deadline(self, on_lost: Callable[[], None]) -> None:
        while not self.stopping.wait(DEADLINE_CHECK_SECONDS):
            if self.taken_by is not None:
                log.error("leader election: %s holds the Lease now", self.taken_by)
            elif renewal_overdue(self.renewed_at, time.monotonic(), self.timing):
                log.error(
                    "leader election: could not renew the Lease for %ss", self.timing.renew_deadline_seconds
                )
            else:
                continue
            on_lost()
            return

    def release(self, threads: list[threading.Thread]) -> None:
        """On a clean shutdown (Kopf stopped): stop renewing, then leave the Lease without a holder so
        that a standby takes over at its next look rather than after the lease duration. A renewal still
        in flight cannot undo it: both writes name the resourceVersion they read, so the later one fails."""
        self.stopping.set()
        for thread in threads:
            thread.join(timeout=self.timing.renew_deadline_seconds)
        try:
            found = k8s.get(k8s.LEASE, self.namespace, self.name)
            if found is None or parse_lease(found).holder != self.identity:
                return
            spec = released_spec(parse_lease(found), datetime.now(UTC))
            manifest = self._manifest(spec, found)
            k8s.replace(k8s.LEASE, self.namespace, self.name, manifest)
            log.info("leader election: %s released the Lease", self.identity)
        except (kopf.TemporaryError, kopf.PermanentError) as error:  # it expires by itself then
            log.warning("leader election: could not release the Lease: %s", error)


def exit_on_lost_lease() -> None:
    """Stop acting at once: no cleanup that could write one more object as a leader we no longer are."""
    logging.shutdown()
    os._exit(LOST_LEASE_EXIT_CODE)


def pod_namespace() -> str:
    try:
        return POD_NAMESPACE_FILE.read_text().strip()
    except OSError:
        raise ValueError(
            "FERRYMAN_LEADER_ELECTION_NAMESPACE is empty and this is not a pod (no service account "
            f"namespace in {POD_NAMESPACE_FILE}): set it to the namespace of the Lease"
        ) from None
