"""The runner's main loop: list-watch the pods bound to our nodes and keep one worker per pod."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
from typing import Any

from kubernetes.client.exceptions import ApiException

from ferryman.devcluster import kwok, network, podman
from ferryman.devcluster.cluster import kill_namespace_processes, node_networks
from ferryman.devcluster.network import NodeNetwork
from ferryman.devcluster.proxy.proxy import ServiceProxy
from ferryman.devcluster.runner.kube_api import PodApi
from ferryman.devcluster.runner.service_account import api_server_env, api_server_port
from ferryman.devcluster.runner.worker import PodWorker
from ferryman.devcluster.settings import DevClusterSettings

log = logging.getLogger("ferryman.devcluster.runner")
Pod = dict[str, Any]
TERMINAL_PHASES = ("Succeeded", "Failed")


class PodCIDRExhaustedError(RuntimeError):
    """Every address of a node's pod CIDR is in use."""


class PodIPs:
    """Pod addresses of one node, from its pod CIDR (.2 up; .0 and .1 are left out by convention)."""

    def __init__(self, net: NodeNetwork) -> None:
        hosts = list(ipaddress.ip_network(net.pod_cidr).hosts())
        self._free = [str(ip) for ip in hosts[1:]]
        self._used: set[str] = set()

    def claim(self, ip: str) -> None:
        self._used.add(ip)

    def allocate(self) -> str:
        for ip in self._free:
            if ip not in self._used:
                self._used.add(ip)
                return ip
        raise PodCIDRExhaustedError(f"all {len(self._free)} pod IPs in use")

    def release(self, ip: str) -> None:
        self._used.discard(ip)


class PodRunner:
    def __init__(self, settings: DevClusterSettings) -> None:
        self.settings = settings
        self.nets = node_networks(settings)
        self.api = PodApi(settings.kubeconfig)
        self.ips = {name: PodIPs(net) for name, net in self.nets.items()}
        self.workers: dict[str, PodWorker] = {}
        self.finished: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.base_env = _base_env()
        # The API server listens on every address: pods reach it at the host address (no loopback of ours).
        port = api_server_port(settings.kubeconfig.read_text())
        self.api_env = api_server_env(network.HOST_ADDRESS, port)

    def ours(self, pod: Pod) -> bool:
        return pod.get("spec", {}).get("nodeName") in self.nets

    def sync_all(self, pods: list[Pod]) -> None:
        """After a (re)list: claim existing IPs first, then reconcile every pod, then drop vanished ones."""
        ours = [p for p in pods if self.ours(p)]
        for pod in ours:
            ip = pod.get("status", {}).get("podIP")
            if ip:
                self.ips[pod["spec"]["nodeName"]].claim(ip)
        for pod in ours:
            self.on_pod(pod)
        present = {p["metadata"]["uid"] for p in ours}
        with self.lock:
            for uid, worker in list(self.workers.items()):
                if uid not in present:
                    worker.mark_removed()

    def on_pod(self, pod: Pod) -> None:
        if not self.ours(pod):
            return
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker is not None:
                worker.update(pod)
                return
            if uid in self.finished:
                return
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        if pod.get("status", {}).get("phase") in TERMINAL_PHASES:
            if deleting:  # a finished Job pod being deleted: no process left to stop
                self.api.finish_deletion(pod)
            return
        self._start_worker(pod)

    def _start_worker(self, pod: Pod) -> None:
        node = pod["spec"]["nodeName"]
        try:
            ip = pod.get("status", {}).get("podIP") or self.ips[node].allocate()
        except PodCIDRExhaustedError as exc:
            # The pod stays Pending (as with a kubelet that cannot create a sandbox) until IPs free up.
            log.warning(
                "%s/%s on %s: %s; add nodes (--nodes)",
                pod["metadata"]["namespace"],
                pod["metadata"]["name"],
                node,
                exc,
            )
            return
        self.ips[node].claim(ip)
        worker = PodWorker(
            pod,
            self.api,
            self.nets[node],
            ip,
            self.settings.runner_dir / "pods",
            self.base_env,
            self._worker_done,
            cluster=self.settings.name,
            api_env=self.api_env,
        )
        with self.lock:
            self.workers[worker.uid] = worker
        worker.start()

    def _worker_done(self, uid: str) -> None:
        with self.lock:
            worker = self.workers.pop(uid, None)
            self.finished.add(uid)
        if worker is not None:
            self.ips[_node_of(self.nets, worker.net)].release(worker.pod_ip)

    def on_deleted(self, pod: Pod) -> None:
        with self.lock:
            worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.mark_removed()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                pods, version = self.api.list_pods()
                self.sync_all(pods)
                for kind, pod in self.api.watch_pods(version):
                    if self.stopping.is_set():
                        break
                    if kind == "DELETED":
                        self.on_deleted(pod)
                    elif kind in ("ADDED", "MODIFIED"):
                        self.on_pod(pod)
            except ApiException as exc:
                if exc.status != 410:
                    log.warning("watch failed (%s); relisting", exc.status)
                    self.stopping.wait(1)
            except Exception as exc:  # API server restarting, connection reset: relist and go on
                log.warning("watch interrupted (%s); relisting", exc)
                self.stopping.wait(1)

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(timeout=10)


def _node_of(nets: dict[str, NodeNetwork], net: NodeNetwork) -> str:
    return next(name for name, candidate in nets.items() if candidate == net)


def _base_env() -> dict[str, str]:
    """What every pod process gets before its own env: a PATH with the venv's bin, HOME, locale."""
    env = {"PATH": kwok.tool_path(), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    for name in ("TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_forever(settings: DevClusterSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = PodRunner(settings)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping pods and exiting", signum)
        runner.stopping.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for net in runner.nets.values():  # orphans of a runner that was killed: pods restart under us
        kill_namespace_processes(net.netns)
    podman.remove_cluster_containers(settings.name)
    log.info("pod runner for nodes %s (pid %d)", ", ".join(runner.nets), os.getpid())
    # The kube-proxy of every node (and of the root namespace) lives here, beside the kubelet.
    proxy = ServiceProxy(settings.kubeconfig, runner.nets)
    proxy.start()
    try:
        runner.run()
    finally:
        proxy.stop()
        runner.shutdown()
        log.info("pod runner stopped")
