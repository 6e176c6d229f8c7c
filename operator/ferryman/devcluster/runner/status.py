"""Pod status as the kubelet reports it, built from what the runner knows (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContainerSnapshot:
    """One container's state at one moment (the shapes of core/v1 ContainerStatus)."""

    name: str
    image: str
    state: dict[str, Any]
    last_state: dict[str, Any]
    ready: bool
    restart_count: int
    startup_passed: bool = True

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def finished(self) -> bool:
        """Terminated and not going to be restarted."""
        return "terminated" in self.state

    def as_status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "containerID": "",
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.running and self.startup_passed,
        }


def pod_phase(containers: list[ContainerSnapshot]) -> str:
    if containers and all(c.finished for c in containers):
        failed = any(c.state["terminated"].get("exitCode", 1) != 0 for c in containers)
        return "Failed" if failed else "Succeeded"
    if any(c.running or c.restart_count > 0 or c.finished for c in containers):
        return "Running"
    return "Pending"


@dataclass
class ConditionClock:
    """Keeps lastTransitionTime stable while a condition keeps its status."""

    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    def condition(
        self, kind: str, status: bool, reason: str = "", message: str = ""
    ) -> dict[str, str | None]:
        value = "True" if status else "False"
        previous = self.seen.get(kind)
        since = previous[1] if previous and previous[0] == value else now_rfc3339()
        self.seen[kind] = (value, since)
        # None (not a missing key) so that the strategic merge patch removes a stale reason/message.
        return {
            "type": kind,
            "status": value,
            "lastTransitionTime": since,
            "lastProbeTime": None,
            "reason": reason or None,
            "message": message or None,
        }


def pod_status(
    *,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    containers: list[ContainerSnapshot],
    clock: ConditionClock,
    terminating: bool,
) -> dict[str, Any]:
    """The status subresource body: phase, addresses, conditions, container statuses."""
    phase = pod_phase(containers)
    not_ready = [c.name for c in containers if not c.ready]
    ready = not not_ready and not terminating and phase == "Running"
    if phase in ("Succeeded", "Failed"):
        reason, message = "PodCompleted", ""
    elif ready:
        reason, message = "", ""
    else:
        reason, message = "ContainersNotReady", f"containers with unready status: [{' '.join(not_ready)}]"
    conditions = [
        clock.condition("PodReadyToStartContainers", bool(pod_ip)),
        clock.condition("Initialized", True),
        clock.condition("ContainersReady", ready, reason, message),
        clock.condition("Ready", ready, reason, message),
    ]
    return {
        "phase": phase,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "conditions": conditions,
        "containerStatuses": [c.as_status() for c in containers],
    }


def status_fingerprint(status: dict[str, Any]) -> str:
    """What decides whether a write is needed: everything but the volatile timestamps."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("lastTransitionTime", "lastProbeTime")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(status), sort_keys=True)
