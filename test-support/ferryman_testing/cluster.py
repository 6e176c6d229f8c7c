"""The local dev cluster for test tiers: start (or reuse) it, talk to it, give each test a namespace.

Used by the cluster fixture (tests/conftest.py), scripts/demo.py and bench/. The cluster is started
through the same command a developer runs (`python -m ferryman.devcluster up`), so the tests exercise it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ferryman_testing.kube_cli import Kubectl

UP_TIMEOUT_SECONDS = 1800  # a cold build of the binaries happens inside `up` (about 10 min on 2 cores)


class ClusterStartError(RuntimeError):
    """`python -m ferryman.devcluster up` failed; the message holds its output."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    netns: str
    root_address: str  # root side of the node's veth: pods on this node reach servers listening here
    node_address: str
    pod_cidr: str


@dataclass(frozen=True)
class DevCluster:
    name: str
    kubeconfig: Path
    nodes: dict[str, NodeInfo]
    host_address: str  # on the root namespace's lo: every pod and the root namespace reach it

    @property
    def node_names(self) -> list[str]:
        return sorted(self.nodes)

    @property
    def kubectl(self) -> Kubectl:
        """kubectl with this cluster's admin kubeconfig."""
        return Kubectl(self.kubeconfig)


def _devcluster(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "ferryman.devcluster", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def start_dev_cluster() -> DevCluster:
    """Bring the cluster up (reusing a healthy one) and describe it."""
    started = time.monotonic()
    up = _devcluster("up", timeout=UP_TIMEOUT_SECONDS)
    if up.returncode != 0:
        raise ClusterStartError(
            f"dev cluster did not start (exit {up.returncode}):\n{up.stdout}\n{up.stderr[-6000:]}"
        )
    sys.stderr.write(f"[dev-cluster] up in {time.monotonic() - started:.1f} s\n")
    described = json.loads(_devcluster("info", timeout=60).stdout)
    nodes = {name: NodeInfo(name=name, **fields) for name, fields in described["nodes"].items()}
    return DevCluster(described["name"], Path(described["kubeconfig"]), nodes, described["host_address"])


def stop_dev_cluster() -> None:
    down = _devcluster("down", timeout=300)
    if down.returncode != 0:
        raise RuntimeError(f"dev cluster did not stop cleanly:\n{down.stderr[-4000:]}")


def keep_cluster() -> bool:
    return os.environ.get("FERRYMAN_KEEP_CLUSTER") == "1"


@contextmanager
def fresh_namespace(cluster: DevCluster, prefix: str = "t") -> Iterator[str]:
    """A namespace of its own for one test; deleted afterwards (pods are stopped by the runner)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl.run("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl.run("delete", "namespace", name, "--wait=false", "--ignore-not-found")
