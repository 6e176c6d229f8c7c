"""Readiness of a ModelDeployment's stable Deployment flows into the owner's status.

Every stable Deployment event comes here, five or more per new Deployment, so the handler decides on the
event loop from what the operator already holds: what it last reported for this Deployment (Kopf's
per-object memo) and the owner as its own ModelDeployment watch last saw it (a Kopf index). Only a
status that needs writing takes a thread of the pool and a request; a thousand new ModelDeployments
otherwise queue thousands of no-op events behind the slow handlers that hold the threads.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from ferryman import k8s
from ferryman.api import GROUP, VERSION
from ferryman.builders.naming import STABLE_DEPLOYMENT_LABELS, deployment_name
from ferryman.builders.serving import controlling_model_deployment, served_model_of
from ferryman.builders.serving_status import replica_status, serving_status
from ferryman.builders.status import DeploymentReadiness, status_patch
from ferryman.handlers.model_deployment import PLURAL, STATUS_WRITE_ATTEMPTS, STEADY_PHASES

OWNERS_INDEX = "model_deployment_owners"  # Kopf passes an index to handlers as the keyword of its id
Owners = kopf.Index[tuple[str | None, str], dict[str, Any]]


@kopf.index(GROUP, VERSION, PLURAL, id=OWNERS_INDEX)
async def model_deployment_owners(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str | None, str], dict[str, Any]]:
    """Each ModelDeployment's identity and status as the operator's own watch last saw them.

    Async on purpose: Kopf indexes every event before handling it, and a sync indexer would wait for a
    thread of the pool that slow handlers hold; Kopf then sees its own annotation patch arrive later
    than its consistency timeout and runs the creation handler a second time (seen: 155 of 200)."""
    metadata = {key: body.metadata.get(key) for key in ("uid", "resourceVersion", "generation")}
    return {(namespace, name): {"metadata": metadata, "status": dict(body.status)}}


@dataclass(frozen=True)
class StableReport:
    """What one stable Deployment says that its owner's status shows."""

    owner_name: str
    owner_uid: str
    version: str
    uri: str
    readiness: DeploymentReadiness
    replicas: dict[str, int]

    @classmethod
    def of(cls, deployment: dict[str, Any]) -> StableReport | None:
        """None unless it is the live stable Deployment of the ModelDeployment that controls it (the
        labels only narrow the watch; the controller ownerReference decides)."""
        controller = controlling_model_deployment(deployment)
        metadata = deployment.get("metadata", {})
        if controller is None or metadata.get("deletionTimestamp"):
            return None
        if metadata.get("name") != deployment_name(controller[0], "stable"):
            return None
        version, uri = served_model_of(deployment)
        replicas = replica_status(deployment)
        return cls(*controller, version, uri, DeploymentReadiness.of(deployment), replicas)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.version, self.uri, self.readiness, tuple(sorted(self.replicas.items())))

    def status_changes(self, owner: dict[str, Any]) -> dict[str, Any] | None:
        """The patch to owner's status ({} when it shows this already); None when it is not this
        handler's to write yet."""
        previous = dict(owner.get("status") or {})
        if not previous and not self.readiness.ready:
            # The owner's first reconcile has not reported yet and reports this Deployment itself;
            # writing "not ready" before it would only make its write lose the race and start over.
            return None
        desired: dict[str, Any] = dict(self.replicas)
        if self.steady(owner):  # a rollout owns the rest of the status otherwise
            desired |= serving_status(
                previous=previous,
                generation=previous.get("observedGeneration"),
                stable_version=self.version,
                stable_uri=self.uri,
                stable=self.readiness,
                now=datetime.now(UTC),
            )
        return status_patch(previous, desired)

    @staticmethod
    def steady(owner: dict[str, Any]) -> bool:
        return (owner.get("status") or {}).get("phase") in STEADY_PHASES


def _owner_as_watched(owners: Owners, namespace: str | None, report: StableReport) -> dict[str, Any] | None:
    """The watched owner of that uid, or None (not seen yet, or a namesake): then it is read."""
    watched = next(iter(owners.get((namespace, report.owner_name), [])), None)
    return watched if watched is not None and watched["metadata"]["uid"] == report.owner_uid else None


Decision = tuple[dict[str, Any] | None, dict[str, Any] | None]
"""An owner as read or watched, and the status changes this report makes to it (see status_changes)."""


@kopf.on.event("apps", "v1", "deployments", labels=STABLE_DEPLOYMENT_LABELS)
async def stable_deployment_changed(
    body: kopf.Body, namespace: str | None, memo: kopf.Memo, **kwargs: Any
) -> None:
    """Write the owner's status when what this Deployment shows changed; decided on the event loop."""
    report = StableReport.of(dict(body))
    if report is None or getattr(memo, "reported_readiness", None) == report.key:
        return
    watched = _owner_as_watched(kwargs[OWNERS_INDEX], namespace, report)
    decided: Decision | None = None
    if watched is not None:
        decided = (watched, report.status_changes(watched))
        if not decided[1]:
            # Not remembered: the watch may lag, so the next event of this Deployment looks again.
            return
    write = functools.partial(write_stable_report, report, namespace, memo, decided)
    await asyncio.get_running_loop().run_in_executor(memo.executor, write)


def write_stable_report(
    report: StableReport, namespace: str | None, memo: kopf.Memo, decided_on_watch: Decision | None
) -> None:
    """Write the report with the owner's resourceVersion as precondition: a watch that lagged, or a
    writer that came first, is a conflict, and the owner is then read fresh and decided again.

    Whoever writes this status later (the reconcile handler, a rollout) decides from a Deployment read
    after this one, so nothing staler can replace it. During a rollout only the replica counts are
    written: look again at the next event."""
    for attempt in range(STATUS_WRITE_ATTEMPTS):
        on_watch = attempt == 0 and decided_on_watch is not None
        owner, changes = (decided_on_watch if on_watch else None) or _decide_on_read(report, namespace)
        if owner is None or changes is None:
            return
        if changes:
            rv = owner["metadata"]["resourceVersion"]
            try:
                k8s.patch_status(
                    k8s.MODEL_DEPLOYMENT, namespace, report.owner_name, changes, resource_version=rv
                )
            except kopf.TemporaryError:  # a conflict: someone wrote first; read again and decide again
                continue
        settled = bool(changes) or not on_watch  # "nothing to write" from a fresh read
        memo.reported_readiness = report.key if report.steady(owner) and settled else None
        return


def _decide_on_read(report: StableReport, namespace: str | None) -> Decision:
    """The owner read now, and the changes; (None, None) when it is gone or a namesake."""
    owner = k8s.get(k8s.MODEL_DEPLOYMENT, namespace, report.owner_name)
    if owner is None or owner.get("metadata", {}).get("uid") != report.owner_uid:
        return None, None
    return owner, report.status_changes(owner)
