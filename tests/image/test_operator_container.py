"""The operator image as the chart runs it: the process is PID 1 of its container."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferryman.devcluster import podman
from ferryman_testing.polling import wait_for
from tests.image.test_image_contract import OPERATOR_IMAGE, podman_out

pytestmark = pytest.mark.image

# An API server that refuses every connection: the replica stays a standby, retrying the Lease.
NO_API_SERVER = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: not-a-secret}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""
STOP_GRACE_SECONDS = 20  # podman stop's SIGKILL deadline, as the pod's terminationGracePeriodSeconds


@pytest.fixture
def standby(tmp_path: Path) -> Iterator[str]:
    """An operator replica with leader election on, waiting for a Lease it never gets."""
    config = tmp_path / "kube"
    config.mkdir()
    (config / "config").write_text(NO_API_SERVER)
    os.chmod(config, 0o755)
    os.chmod(config / "config", 0o644)  # the image's user 65532 reads it
    name = f"fm-standby-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    podman_out(
        "run", "--detach", "--name", name, "--pull", "never", "--network", "none", "--read-only",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--volume", f"{config}:/kube:ro",
        "--env", "KUBECONFIG=/kube/config", "--env", "FERRYMAN_LEADER_ELECTION=true",
        "--env", "FERRYMAN_LEADER_ELECTION_NAMESPACE=ferryman", OPERATOR_IMAGE,
    )  # fmt: skip
    try:
        yield name
    finally:
        podman.remove_container(name)


def test_a_standby_stops_at_once_on_sigterm_although_it_is_pid_1(standby: str) -> None:
    """The kernel drops SIGTERM for PID 1 unless it has a handler, and Kopf installs its own only once it
    leads: without one a waiting replica would ignore every rolling upgrade and drain until SIGKILL."""
    wait_for(
        "the replica to wait for the Lease",
        lambda: "waits for the Lease" in podman_out("logs", standby) or None,
        timeout=60,
    )
    stopping = time.monotonic()
    podman_out("stop", "--time", str(STOP_GRACE_SECONDS), standby)
    stopped_after = time.monotonic() - stopping
    exit_code = podman_out("inspect", "--format", "{{.State.ExitCode}}", standby).strip()
    print(f"\noperator standby (PID 1): stopped {stopped_after:.1f} s after SIGTERM, exit code {exit_code}")
    assert exit_code == "0", podman_out("logs", standby)[-2000:]
    assert stopped_after < 5.0
