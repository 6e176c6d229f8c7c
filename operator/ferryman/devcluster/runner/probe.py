"""Probes against the pod IP: httpGet, tcpSocket, exec (in the node's namespace)."""

from __future__ import annotations

import http.client
import socket
import subprocess
from dataclasses import dataclass, field

from ferryman.devcluster.runner.podspec import Probe


def probe_once(probe: Probe, pod_ip: str, netns: str) -> bool:
    try:
        if probe.kind == "httpGet":
            return _http_get(probe, probe.host or pod_ip)
        if probe.kind == "tcpSocket":
            with socket.create_connection((probe.host or pod_ip, probe.port), timeout=probe.timeout):
                return True
        result = subprocess.run(
            ["ip", "netns", "exec", netns, *probe.command],
            capture_output=True,
            timeout=probe.timeout,
            check=False,
        )
        return result.returncode == 0
    except (OSError, subprocess.TimeoutExpired, http.client.HTTPException):
        return False


def _http_get(probe: Probe, host: str) -> bool:
    if probe.scheme.upper() == "HTTPS":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, probe.port, timeout=probe.timeout
        )
    else:
        conn = http.client.HTTPConnection(host, probe.port, timeout=probe.timeout)
    try:
        conn.request("GET", probe.path, headers={"User-Agent": "kube-probe/1.36", **dict(probe.headers)})
        return 200 <= conn.getresponse().status < 400
    finally:
        conn.close()


@dataclass
class ProbeTracker:
    """Applies a probe's period and success/failure thresholds to single results.

    `passing` starts False for readiness (not ready until proven) and True for liveness (alive until
    failureThreshold failures in a row).
    """

    probe: Probe
    started_at: float
    passing: bool = False
    _successes: int = 0
    _failures: int = 0
    _next_at: float = field(default=0.0)

    def due(self, now: float) -> bool:
        return now >= max(self._next_at, self.started_at + self.probe.initial_delay)

    def record(self, ok: bool, now: float) -> None:
        self._next_at = now + self.probe.period
        if ok:
            self._successes, self._failures = self._successes + 1, 0
            if self._successes >= self.probe.success_threshold:
                self.passing = True
        else:
            self._successes, self._failures = 0, self._failures + 1
            if self._failures >= self.probe.failure_threshold:
                self.passing = False

    @property
    def failed_out(self) -> bool:
        """failureThreshold failures in a row (for a startup probe: give up and restart)."""
        return self._failures >= self.probe.failure_threshold
