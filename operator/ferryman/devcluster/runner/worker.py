"""One pod on one node: its IP, its container processes, its status, its deletion."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from ferryman.devcluster import network, podman
from ferryman.devcluster.network import NodeNetwork
from ferryman.devcluster.runner.image_run import empty_dirs, image_run, model_files
from ferryman.devcluster.runner.kube_api import PodApi
from ferryman.devcluster.runner.podspec import (
    KeyLookup,
    PodSpecError,
    Probe,
    command_line,
    container_env,
    grace_period,
    liveness_probe,
    readiness_probe,
    startup_probe,
)
from ferryman.devcluster.runner.process import ContainerProbes, ContainerProcess
from ferryman.devcluster.runner.projected import ProjectedVolumes
from ferryman.devcluster.runner.service_account import TokenIssuer
from ferryman.devcluster.runner.status import ConditionClock, now_rfc3339, pod_status, status_fingerprint

log = logging.getLogger("ferryman.devcluster.runner")
Pod = dict[str, Any]
TICK_SECONDS = 0.2  # while a process runs: notice exits and due probes quickly
IDLE_SECONDS = 5.0  # nothing to watch (finished or simulated): wait for an API event instead
SIMULATE_ANNOTATION = "devcluster.ferryman.dev/simulate"


class PodWorker:
    """Runs in its own thread until the pod is gone from the API server."""

    def __init__(
        self,
        pod: Pod,
        api: PodApi,
        net: NodeNetwork,
        pod_ip: str,
        pods_dir: Path,
        base_env: Mapping[str, str],
        on_done: Callable[[str], None],
        cluster: str = "ferryman",
        api_env: Mapping[str, str] | None = None,
    ) -> None:
        self.uid: str = pod["metadata"]["uid"]
        self.key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        self.api, self.net, self.pod_ip, self.base_env, self.on_done = api, net, pod_ip, base_env, on_done
        self.cluster = cluster
        self.api_env = dict(api_env or {})  # KUBERNETES_SERVICE_HOST/PORT for image containers
        self.dir = pods_dir / f"{pod['metadata']['namespace']}_{pod['metadata']['name']}_{self.uid[:8]}"
        self._pod = pod
        self._lock = threading.Lock()
        self._removed = threading.Event()
        self._shutdown = threading.Event()
        self._wake = threading.Event()
        self.simulated = pod["metadata"].get("annotations", {}).get(SIMULATE_ANNOTATION) == "true"
        self._clock = ConditionClock()
        self._written = ""
        self._start_time = pod.get("status", {}).get("startTime") or now_rfc3339()
        self._address_added = False
        self.projected = ProjectedVolumes(self.dir, self.key)
        self.containers = self._containers(pod)
        self._thread = threading.Thread(target=self._run, name=f"pod {self.key}", daemon=True)

    def _containers(self, pod: Pod) -> list[ContainerProcess]:
        policy = pod["spec"].get("restartPolicy", "Always")
        out = []
        grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        for spec in pod["spec"]["containers"]:
            probes = ContainerProbes(
                readiness=self._probe(readiness_probe, spec),
                liveness=self._probe(liveness_probe, spec),
                startup=self._probe(startup_probe, spec),
                grace=grace,
            )
            log_path = self.dir / f"{spec['name']}.log"
            out.append(ContainerProcess(spec["name"], spec.get("image", ""), policy, log_path, probes))
        return out

    def _probe(self, parse: Callable[[dict[str, Any]], Probe | None], spec: dict[str, Any]) -> Probe | None:
        try:
            return parse(spec)
        except PodSpecError as exc:  # an unusable probe is ignored, and said so
            log.warning("%s: %s", self.key, exc)
            return None

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: Pod) -> None:
        with self._lock:
            self._pod = pod
        self._wake.set()

    def mark_removed(self) -> None:
        """The pod is gone from the API server (force-deleted): stop its processes now."""
        self._removed.set()
        self._wake.set()

    def shutdown(self) -> None:
        """The runner is stopping: stop processes but leave the pod object alone."""
        self._shutdown.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                self._wake.clear()  # before the step: an update during it wakes the next wait
                try:
                    if self._step():
                        break
                except Exception:  # the runner must outlive API hiccups and odd pods
                    log.exception("%s: step failed; retrying", self.key)
                    time.sleep(1)
                busy = any(c.proc is not None or not c.finished for c in self.containers)
                self._wake.wait(TICK_SECONDS if busy and not self.simulated else IDLE_SECONDS)
        finally:
            self._cleanup()
            self.on_done(self.uid)

    def _step(self) -> bool:
        """One round of the pod's lifecycle; True when the worker is finished."""
        with self._lock:
            pod = self._pod
        if self._removed.is_set() or self._shutdown.is_set():
            self._stop_containers(grace=2.0 if self._removed.is_set() else 5.0)
            return True
        if pod["metadata"].get("deletionTimestamp"):
            return self._delete(pod)
        if not self._address_added:
            network.add_pod_address(self.net.netns, self.pod_ip)
            self._address_added = True
        now = time.monotonic()
        for container, spec in zip(self.containers, pod["spec"]["containers"], strict=True):
            if container.wants_start(now) and self.simulated:
                container.simulate_running()
            elif container.wants_start(now):
                self._start_container(pod, container, spec, now)
            container.poll(self.pod_ip, self.net.netns, now)
        self.projected.renew_due(pod, self._issue_token(pod), self._lookup(pod), time.time())
        self._write_status(pod, terminating=False)
        return False

    def _start_container(
        self, pod: Pod, container: ContainerProcess, spec: dict[str, Any], now: float
    ) -> None:
        with_ip = {
            **pod,
            "status": {
                **pod.get("status", {}),
                "podIP": self.pod_ip,
                "podIPs": [{"ip": self.pod_ip}],
                "hostIP": self.net.node_address,
                "hostIPs": [{"ip": self.net.node_address}],
            },
        }
        lookup = self._lookup(pod)
        try:
            if podman.image_exists(spec.get("image", "")):
                self._start_image(with_ip, container, spec, lookup)
            else:
                env = container_env(with_ip, spec, self.base_env, lookup)
                argv = command_line(spec, env, self.base_env.get("PATH", ""))
                cwd = Path(spec["workingDir"]) if spec.get("workingDir") else self.dir / "work"
                container.start(argv, env, self.net.netns, cwd)
                log.info("%s: started %s (%s)", self.key, container.name, " ".join(argv))
        except (PodSpecError, KeyError, ApiException, OSError, subprocess.SubprocessError) as exc:
            reason = (
                "CreateContainerConfigError"
                if isinstance(exc, (KeyError, ApiException))
                else "RunContainerError"
            )
            log.warning("%s: cannot start %s: %s", self.key, container.name, exc)
            container.start_failed(reason, str(exc), now)

    def _start_image(
        self, pod: Pod, container: ContainerProcess, spec: dict[str, Any], lookup: KeyLookup
    ) -> None:
        """The image is in local storage: run it with podman in the node's namespace, as a kubelet would."""
        # The image brings PATH and HOME; the kubelet adds the API address, then the pod its own env.
        env = container_env(pod, spec, self.api_env, lookup)
        env.pop("HOSTNAME")  # podman sets it from --hostname
        volume_dirs = {name: self.dir / "volumes" / name for name in empty_dirs(pod)}
        for directory in volume_dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o777)  # as the kubelet makes an emptyDir: writable by any uid
        # The ServiceAccount token (kube-api-access-*) and any other projected volume, read-only.
        volume_dirs.update(self.projected.write_all(pod, self._issue_token(pod), lookup))
        run = image_run(
            pod,
            spec,
            env,
            netns_path=f"/var/run/netns/{self.net.netns}",
            cluster_label=(podman.CLUSTER_LABEL, self.cluster),
            volume_dirs=volume_dirs,
            image_user=podman.image_user(spec["image"]),
            host_files=model_files(env),
        )
        container.start(run.argv, {**podman.env(), **env}, self.net.netns, self.dir, container=run.name)
        log.info("%s: started %s as image %s (%s)", self.key, container.name, spec["image"], run.name)

    def _lookup(self, pod: Pod) -> KeyLookup:
        namespace = pod["metadata"]["namespace"]

        def lookup(kind: str, name: str, key: str, optional: bool) -> str | None:
            return self.api.key_value(namespace, kind, name, key, optional)

        return lookup

    def _issue_token(self, pod: Pod) -> TokenIssuer:
        return lambda source: self.api.request_token(pod, source)

    def _delete(self, pod: Pod) -> bool:
        self._write_status(pod, terminating=True)
        self._stop_containers(grace_period(pod))
        self.api.finish_deletion(pod)
        log.info("%s: deleted", self.key)
        return True

    def _stop_containers(self, grace: float) -> None:
        stoppers = [threading.Thread(target=c.stop, args=(grace,)) for c in self.containers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def _write_status(self, pod: Pod, terminating: bool) -> None:
        status = pod_status(
            pod_ip=self.pod_ip,
            host_ip=self.net.node_address,
            start_time=self._start_time,
            containers=[c.snapshot() for c in self.containers],
            clock=self._clock,
            terminating=terminating,
        )
        fingerprint = status_fingerprint(status)
        if fingerprint == self._written:
            return
        try:
            self.api.write_status(pod, status)
        except ApiException as exc:
            if exc.status != 404:  # gone: the watch will tell us
                raise
        self._written = fingerprint

    def _cleanup(self) -> None:
        self.projected.remove()
        if self._address_added:
            network.remove_pod_address(self.net.netns, self.pod_ip)
