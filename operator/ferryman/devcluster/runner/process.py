"""One container as a local process (or a podman container) in its node's network namespace, with restarts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferryman.devcluster import podman
from ferryman.devcluster.runner.podspec import Probe, restart_backoff, should_restart
from ferryman.devcluster.runner.probe import ProbeTracker, probe_once
from ferryman.devcluster.runner.status import ContainerSnapshot, now_rfc3339


@dataclass(frozen=True)
class ContainerProbes:
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None
    grace: float = 30.0  # seconds between SIGTERM and SIGKILL when liveness fails


class ContainerProcess:
    """Start, watch, restart and stop one container's command; report its ContainerStatus."""

    def __init__(
        self, name: str, image: str, restart_policy: str, log_path: Path, probes: ContainerProbes
    ) -> None:
        self.name = name
        self.image = image
        self.restart_policy = restart_policy
        self.log_path = log_path
        self.probes = probes
        self.proc: subprocess.Popen[bytes] | None = None
        self.restart_count = 0
        self.state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict[str, Any] = {}
        self.readiness: ProbeTracker | None = None
        self.liveness: ProbeTracker | None = None
        self.startup: ProbeTracker | None = None
        self.next_start_at = 0.0
        self.start_failures = 0
        self.simulated = False
        self.container: str | None = None  # podman's name for it when the image runs, else a host process

    def snapshot(self) -> ContainerSnapshot:
        running = (self.proc is not None or self.simulated) and "running" in self.state
        ready = running and (self.readiness.passing if self.readiness else True)
        startup_passed = self.startup is None or self.startup.passing
        return ContainerSnapshot(
            self.name,
            self.image,
            self.state,
            self.last_state,
            ready and startup_passed,
            self.restart_count,
            startup_passed,
        )

    @property
    def finished(self) -> bool:
        return "terminated" in self.state

    def wants_start(self, now: float) -> bool:
        return self.proc is None and not self.simulated and not self.finished and now >= self.next_start_at

    def start(
        self, argv: list[str], env: Mapping[str, str], netns: str, cwd: Path, container: str | None = None
    ) -> None:
        """Run argv inside netns; on failure record why (the pod's status says it, the runner keeps going).

        With `container`, argv is a `podman run` that joins the namespace itself; the podman client stays
        in the foreground (its exit code is the container's) and forwards signals to the container.
        """
        self.container = container
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- {now_rfc3339()} starting: {' '.join(argv)}\n".encode())
            log.flush()
            # `ip netns exec` execs argv after setns, so the pid is the container's own process;
            # a new session lets a stop signal reach everything the container started.
            self.proc = subprocess.Popen(
                argv if container else ["ip", "netns", "exec", netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        self.state = {"running": {"startedAt": now_rfc3339()}}
        started = time.monotonic()
        if self.probes.readiness is not None:
            self.readiness = ProbeTracker(self.probes.readiness, started_at=started)
        if self.probes.liveness is not None:
            self.liveness = ProbeTracker(self.probes.liveness, started_at=started, passing=True)
        if self.probes.startup is not None:
            self.startup = ProbeTracker(self.probes.startup, started_at=started)

    def simulate_running(self) -> None:
        """No process: the pod only looks Running and Ready (scale tests of controllers)."""
        self.state = {"running": {"startedAt": now_rfc3339()}}
        self.simulated = True

    def start_failed(self, reason: str, message: str, now: float) -> None:
        """The command could not even be started (bad spec, missing executable)."""
        if should_restart(self.restart_policy, 128):
            self.start_failures += 1
            self.next_start_at = now + restart_backoff(self.start_failures)
            self.state = {"waiting": {"reason": reason, "message": message}}
        else:
            self.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": reason,
                    "message": message,
                    "startedAt": None,
                    "finishedAt": now_rfc3339(),
                }
            }

    def poll(self, pod_ip: str, netns: str, now: float) -> None:
        """Notice an exit (and decide on a restart), and run the probes when due."""
        if self.proc is None:
            return
        code = self.proc.poll()
        if code is not None:
            self._exited(code, now)
            return
        if self.startup is not None and not self.startup.passing:
            # Until the startup probe passes, readiness and liveness wait (kubelet semantics).
            if self.startup.due(now):
                self.startup.record(probe_once(self.startup.probe, pod_ip, netns), time.monotonic())
                if self.startup.failed_out:
                    self._kill_unhealthy(now, "startup")
            return
        if self.readiness is not None and self.readiness.due(now):
            self.readiness.record(probe_once(self.readiness.probe, pod_ip, netns), time.monotonic())
        if self.liveness is not None and self.liveness.due(now):
            self.liveness.record(probe_once(self.liveness.probe, pod_ip, netns), time.monotonic())
            if not self.liveness.passing:
                self._kill_unhealthy(now, "liveness")

    def _kill_unhealthy(self, now: float, probe: str) -> None:
        """A liveness or startup probe gave up: stop the process, then the restart policy decides."""
        assert self.proc is not None
        with open(self.log_path, "ab") as log:
            log.write(f"--- {now_rfc3339()} {probe} probe failed: stopping\n".encode())
        self._terminate(self.probes.grace)
        self._exited(self.proc.returncode, now)

    def _terminate(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; a container is removed whatever happened."""
        assert self.proc is not None
        if self.container:
            podman.signal_container(self.container, "TERM")
        else:
            _signal_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            if self.container:
                self._kill_container()
            else:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._forget_container()

    def _kill_container(self) -> None:
        """SIGKILL and remove; repeated, because a container still being created is missed by the first rm."""
        assert self.proc is not None and self.container is not None
        for _ in range(3):
            podman.remove_container(self.container)
            try:
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue
        self.proc.kill()  # the client is stuck: the label sweep of `down` removes what is left
        self.proc.wait(timeout=10)

    def _forget_container(self) -> None:
        """`run --rm` removes the container on exit; this makes sure, even if the podman client died."""
        if self.container:
            podman.remove_container(self.container)

    def _exited(self, code: int, now: float) -> None:
        self._forget_container()
        started_at = self.state.get("running", {}).get("startedAt")
        exit_code = code if code >= 0 else 128 - code  # killed by signal N -> 128+N, as in containers
        terminated = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started_at,
            "finishedAt": now_rfc3339(),
        }
        self.proc = None
        self.readiness = None
        self.liveness = None
        self.startup = None
        if should_restart(self.restart_policy, exit_code):
            self.restart_count += 1
            self.last_state = {"terminated": terminated}
            self.next_start_at = now + restart_backoff(self.restart_count)
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {restart_backoff(self.restart_count):.0f}s restarting "
                    f"failed container={self.name}",
                }
            }
        else:
            self.state = {"terminated": terminated}

    def stop(self, grace: float) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds."""
        if self.proc is None:
            return
        self._terminate(grace)
        self._exited_on_stop(self.proc.returncode)

    def _exited_on_stop(self, code: int) -> None:
        exit_code = code if code >= 0 else 128 - code
        self.state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": self.state.get("running", {}).get("startedAt"),
                "finishedAt": now_rfc3339(),
            }
        }
        self.proc = None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
