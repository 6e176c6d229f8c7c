"""`up`, `down`, `env`, `status`: the dev cluster as one idempotent unit."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from ferryman.devcluster import kwok, network, podman
from ferryman.devcluster.network import NodeNetwork
from ferryman.devcluster.nodes import ensure_nodes, node_name, wait_nodes_ready
from ferryman.devcluster.proxy import nftables
from ferryman.devcluster.settings import DevClusterSettings


class BuildError(RuntimeError):
    """scripts/build-cluster-binaries failed."""


class ClusterConflictError(RuntimeError):
    """Another dev cluster holds the pod network."""


@dataclass(frozen=True)
class ClusterInfo:
    """What a user (or a test fixture) needs to talk to the cluster and its pods."""

    name: str
    kubeconfig: Path
    nodes: dict[str, NodeNetwork]
    host_address: str

    def as_json(self) -> str:
        nodes = {
            name: {
                "netns": n.netns,
                "root_address": n.root_address,
                "node_address": n.node_address,
                "pod_cidr": n.pod_cidr,
            }
            for name, n in self.nodes.items()
        }
        return json.dumps(
            {
                "name": self.name,
                "kubeconfig": str(self.kubeconfig),
                "host_address": self.host_address,
                "nodes": nodes,
            },
            indent=2,
        )


def node_networks(settings: DevClusterSettings) -> dict[str, NodeNetwork]:
    return {node_name(settings.name, i): NodeNetwork(settings.name, i) for i in range(settings.nodes)}


def info(settings: DevClusterSettings) -> ClusterInfo:
    return ClusterInfo(settings.name, settings.kubeconfig, node_networks(settings), network.HOST_ADDRESS)


def build_binaries(settings: DevClusterSettings) -> Path:
    """Run the (cached) build script; its last stdout line is the bin directory."""
    result = subprocess.run([str(settings.build_script)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise BuildError(f"{settings.build_script} failed with exit code {result.returncode}")
    return Path(result.stdout.strip().splitlines()[-1])


def core_api(settings: DevClusterSettings) -> Any:
    """CoreV1Api, typed Any: manifests are plain dicts here, not the client's models."""
    api_client = config.new_client_from_config(config_file=str(settings.kubeconfig))  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api_client)


def is_healthy(settings: DevClusterSettings) -> bool:
    """Every control-plane process alive, the API ready, every node namespace wired, Service IPs kept in."""
    nets = node_networks(settings).values()
    processes_alive = set(kwok.control_plane_pids(settings)) >= set(kwok.COMPONENTS)
    wired = all(network.node_is_wired(n) and network.service_cidr_is_blocked(n.netns) for n in nets)
    return processes_alive and kwok.api_is_ready(settings) and wired and network.service_cidr_is_blocked()


@contextlib.contextmanager
def exclusive(settings: DevClusterSettings) -> Iterator[None]:
    """One `up`/`down` at a time per machine: test sessions started together must not race."""
    settings.workdir.mkdir(parents=True, exist_ok=True)
    with open(settings.workdir / "devcluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(settings: DevClusterSettings) -> ClusterInfo:
    with exclusive(settings):
        return _up(settings)


def _up(settings: DevClusterSettings) -> ClusterInfo:
    others = network.other_clusters(settings.name)
    if others:
        # All dev clusters use the same addresses and veth names: one at a time per machine.
        raise ClusterConflictError(
            f"dev cluster {others[0]!r} is up on this machine; stop it first with "
            f"`scripts/dev-cluster down --name {others[0]}` (only one dev cluster can run at a time)"
        )
    nftables.nft_binary()  # fail before anything starts, with the package to install
    bin_dir = build_binaries(settings)
    if is_healthy(settings):
        _log(f"reusing running cluster {settings.name}")
    else:
        _teardown(settings, bin_dir)
        try:
            _create(settings, bin_dir)
        except BaseException:
            _log(f"start failed; cleaning up. Last lines of the component logs:\n{_log_tails(settings)}")
            _teardown(settings, bin_dir)
            raise
    api = core_api(settings)
    nets = node_networks(settings)
    ensure_nodes(api, nets)
    wait_nodes_ready(api, list(nets), timeout=60)
    ensure_runner(settings)
    return info(settings)


def _create(settings: DevClusterSettings, bin_dir: Path) -> None:
    started = time.monotonic()
    network.setup_host_address()
    network.block_service_cidr()
    for net in node_networks(settings).values():
        network.setup_node(net)
    kwok.create_cluster(settings, bin_dir)
    _log(f"control plane up in {time.monotonic() - started:.1f} s")


def down(settings: DevClusterSettings) -> None:
    with exclusive(settings):
        _down(settings)


def _down(settings: DevClusterSettings) -> None:
    # kwokctl is only needed when a control plane may exist; never start a cold build just to stop.
    bin_dir = build_binaries(settings) if settings.cluster_dir.exists() else None
    _teardown(settings, bin_dir)


def _teardown(settings: DevClusterSettings, bin_dir: Path | None) -> None:
    """Remove everything a previous run may have left: runner, pod processes, cluster, network."""
    stop_runner(settings)
    # Before the namespaces go: a container still running in one would keep its netns mount alive.
    podman.remove_cluster_containers(settings.name)
    stale = {NodeNetwork(settings.name, i) for i in range(8)} | set(node_networks(settings).values())
    for net in sorted(stale, key=lambda n: n.index):
        kill_namespace_processes(net.netns)
        network.teardown_node(net)
    if bin_dir is not None:
        kwok.delete_cluster(settings, bin_dir)
    nftables.delete_table(None)  # the node namespaces' tables went with the namespaces
    network.unblock_service_cidr()
    network.teardown_host_address()


def kill_namespace_processes(netns: str) -> None:
    """Every process in a node namespace is a pod's: the runner owns them all."""
    if netns not in network.list_namespaces():
        return
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False).stdout
    for pid in out.split():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def runner_pid(settings: DevClusterSettings) -> int | None:
    pid_file = settings.runner_dir / "runner.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    # A stale pid file may name a pid that now belongs to someone else: check it is our runner.
    return pid if b"ferryman.devcluster" in cmdline and b"runner" in cmdline else None


def ensure_runner(settings: DevClusterSettings) -> int:
    """Start the pod runner in the background unless it is already running."""
    pid = runner_pid(settings)
    if pid is not None:
        return pid
    settings.runner_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.runner_dir / "runner.log", "ab")  # noqa: SIM115 - handed to the child
    env = {
        **os.environ,
        "PATH": kwok.tool_path(),
        "FERRYMAN_DEVCLUSTER_NAME": settings.name,
        "FERRYMAN_DEVCLUSTER_NODES": str(settings.nodes),
        "FERRYMAN_DEVCLUSTER_WORKDIR": str(settings.workdir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman.devcluster", "runner"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # the runner outlives `up`; `down` stops it by its pid file
    )
    log.close()
    (settings.runner_dir / "runner.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def stop_runner(settings: DevClusterSettings, timeout: float = 10.0) -> None:
    pid = runner_pid(settings)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    (settings.runner_dir / "runner.pid").unlink(missing_ok=True)


def status(settings: DevClusterSettings) -> str:
    lines = [f"cluster {settings.name}: {'healthy' if is_healthy(settings) else 'not running'}"]
    lines.append(f"kubeconfig: {settings.kubeconfig}")
    lines.append(f"host address (reachable from every pod and the root namespace): {network.HOST_ADDRESS}")
    for name, net in node_networks(settings).items():
        lines.append(
            f"node {name}: netns {net.netns}, pod CIDR {net.pod_cidr}, InternalIP {net.node_address}, "
            f"root side {net.root_address} (servers for this node's pods may listen here)"
        )
    pid = runner_pid(settings)
    lines.append(f"pod runner: {'pid ' + str(pid) if pid else 'not running'}, log {settings.runner_dir}")
    for component, cpid in kwok.control_plane_pids(settings).items():
        lines.append(f"{component}: pid {cpid}, RSS {_rss_mib(cpid):.0f} MiB")
    if pid:
        lines.append(f"pod runner: RSS {_rss_mib(pid):.0f} MiB")
    return "\n".join(lines)


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _log_tails(settings: DevClusterSettings, lines: int = 5) -> str:
    tails = []
    for log_file in sorted((settings.cluster_dir / "logs").glob("*.log")):
        text = log_file.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log_file.name}\n" + "\n".join(text))
    return "\n".join(tails)


def _log(message: str) -> None:
    print(f"[dev-cluster] {message}", file=sys.stderr)
