"""How the operator scales: N ModelDeployments to Ready, its peak memory, and writes while idle.

    .venv/bin/python bench/operator_scale.py            # N=200
    .venv/bin/python bench/operator_scale.py --n 1000

First the anchor: the same Services and Deployments applied straight (what the cluster alone costs),
then the operator phase. Runs against the local dev cluster (started or reused). The operator runs as
`ferryman operator` in its own process so its RSS is its own. The benchmark's pods carry the dev
cluster's simulate annotation (through spec.serving.podAnnotations): the pod runner marks them Ready
without starting a process, since 1,000 model servers do not fit on 2 cores. The API server,
controller-manager, scheduler and operator do all their real work.
Goal (issue 3): 1,000 in <= 60 s, <= 200 MB, 0 idle writes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import start_dev_cluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import is_ready
from ferryman_testing.servers import free_port

# The dev cluster's pod runner marks such pods Ready without starting a process.
SIMULATE_ANNOTATION = "devcluster.ferryman.dev/simulate"


def model_deployments(namespace: str, n: int) -> list[dict[str, Any]]:
    return [
        model_deployment(
            f"model-{i:04d}",
            namespace,
            f"file:///models/model-{i:04d}/model.onnx",
            serving={"podAnnotations": {SIMULATE_ANNOTATION: "true"}},
        )
        for i in range(n)
    ]


def anchor_manifests(namespace: str, n: int) -> list[dict[str, Any]]:
    """What a user would apply instead of the operator: the same Service and Deployment per model the
    operator builds (same builders, same pod template), without an owner."""
    from ferryman.api import ModelDeployment
    from ferryman.builders.serving import ServingTarget, build_service, build_serving_deployment
    from ferryman.config import Settings

    settings = Settings()
    manifests = []
    for i, manifest in enumerate(model_deployments(namespace, n)):
        manifest["metadata"] |= {"uid": f"anchor-{i}", "generation": 1}
        md = ModelDeployment.model_validate(manifest)
        target = ServingTarget("stable", md.spec.model.uri, md.spec.model.version_label(), 1)
        for built in (build_service(md), build_serving_deployment(md, target, settings)):
            del built["metadata"]["ownerReferences"]
            manifests.append(built)
    return manifests


def apply_in_parallel(kubeconfig: Path, manifests: list[dict[str, Any]], workers: int = 16) -> None:
    """Server-side apply from a thread pool, as a CI pipeline or Argo CD sync would write them."""
    os.environ["KUBECONFIG"] = str(kubeconfig)
    from ferryman import k8s

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda manifest: k8s.apply(manifest, "bench"), manifests))


def start_operator(kubeconfig: Path, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FERRYMAN_NAMESPACES": json.dumps([namespace]),
        "FERRYMAN_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
    }
    ferryman = Path(sys.executable).parent / "ferryman"
    with log.open("wb") as out:
        return subprocess.Popen([str(ferryman), "operator"], env=env, stdout=out, stderr=subprocess.STDOUT)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's resident-set high-water mark, kept by the kernel."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ReadinessWatch:
    """Counts Ready ModelDeployments and existing Deployments from two watches, in threads.

    A watch costs the API server one stream from its cache; listing 2,000 objects every second
    (kubectl get -o json) would take a share of the 2 cores the benchmark is measuring. Used as a
    context manager: the watches end with the phase (at their next event, or within WATCH_SECONDS).
    """

    WATCH_SECONDS = 30

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        from kubernetes import client, config

        config.load_kube_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        self._custom, self._apps = client.CustomObjectsApi(), client.AppsV1Api()
        self._namespace = namespace
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._deployments: set[str] = set()
        self._available: set[str] = set()
        self._stopped = threading.Event()
        self._watches: list[Any] = []
        for target in (self._watch_model_deployments, self._watch_deployments):
            threading.Thread(target=target, daemon=True).start()

    def __enter__(self) -> ReadinessWatch:
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        for open_watch in list(self._watches):
            open_watch.stop()

    def counts(self) -> tuple[int, int, int]:
        """(ModelDeployments whose status is Ready, Deployments that exist, Deployments all Ready)."""
        with self._lock:
            return len(self._ready), len(self._deployments), len(self._available)

    def _watch_model_deployments(self) -> None:
        list_call = functools.partial(
            self._custom.list_namespaced_custom_object, "ferryman.dev", "v1alpha1", self._namespace,
            "modeldeployments",
        )  # fmt: skip
        for event in self._stream(list_call):
            obj = event["object"]
            ready = is_ready(obj.get("status") or {})
            with self._lock:
                (self._ready.add if ready else self._ready.discard)(obj["metadata"]["name"])

    def _watch_deployments(self) -> None:
        list_call = functools.partial(self._apps.list_namespaced_deployment, self._namespace)
        for event in self._stream(list_call):
            deployment = event["object"]
            all_ready = (deployment.status.ready_replicas or 0) >= (deployment.spec.replicas or 0)
            with self._lock:
                self._deployments.add(deployment.metadata.name)
                (self._available.add if all_ready else self._available.discard)(deployment.metadata.name)

    def _stream(self, list_call: Any) -> Any:
        import urllib3
        from kubernetes import watch

        # A watch the server ends (its timeout, or a broken stream) is opened again; it starts with the
        # current objects, so the counts stay right. A stopped watch ends quietly when its namespace goes.
        while not self._stopped.is_set():
            self._watches.append(watch.Watch())  # type: ignore[no-untyped-call]
            try:
                yield from self._watches[-1].stream(list_call, timeout_seconds=self.WATCH_SECONDS)
            except urllib3.exceptions.HTTPError:
                time.sleep(0.5)  # not a busy loop while the API server is away


COMPONENTS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")


def _component(command: str, *, is_operator: bool) -> str | None:
    if is_operator:
        return "operator"
    if "ferryman.devcluster runner" in command:
        return "pod runner"
    binary = command.split(" ", 1)[0]
    return next((c for c in COMPONENTS if binary.endswith(f"/{c}")), None)


def component_cpu_seconds(operator_pid: int) -> dict[str, float]:
    """CPU seconds used so far by each cluster component, the dev cluster's pod runner and the operator."""
    ticks = os.sysconf("SC_CLK_TCK")
    usage: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = stat.with_name("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # the process ended meanwhile
        name = _component(command, is_operator=stat.parent.name == str(operator_pid))
        if name is not None:
            usage[name] = usage.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return usage


def report_stragglers(kubectl: Kubectl, namespace: str) -> None:
    """Say which ModelDeployments never became Ready, and what their status and Deployment say."""
    listing = json.loads(kubectl.run("get", "modeldeployments", "-n", namespace, "-o", "json"))
    for item in listing["items"]:
        status = item.get("status") or {}
        if status.get("phase") != "Succeeded":
            name = item["metadata"]["name"]
            deployment = kubectl.run("get", "deployment", f"{name}-stable", "-n", namespace, "-o",
                                     "jsonpath={.status}")  # fmt: skip
            print(f"not Ready: {name}: {status.get('phase')} {status.get('message')} deployment={deployment}")


def api_requests(kubectl: Kubectl) -> Counter[str]:
    """The API server's own request counters (every client), keyed "VERB resource[/subresource]"."""
    counts: Counter[str] = Counter()
    for line in kubectl.run("get", "--raw", "/metrics", timeout=120).splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        resource = "/".join(filter(None, (labels.get("resource"), labels.get("subresource"))))
        counts[f"{labels.get('verb')} {resource}"] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def print_requests(during: Counter[str], n: int, top: int = 25) -> None:
    """Where the API server's work went while the ModelDeployments became Ready, per ModelDeployment."""
    print(
        f"\nAPI requests (all clients) from the first apply to all Ready: {sum(during.values())}, "
        f"{sum(during.values()) / n:.1f} per ModelDeployment"
    )
    for key, count in during.most_common(top):
        print(f"  {key:<50}{count / n:>8.2f}")


def versions(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    kinds = "modeldeployments,deployments,replicasets,services,pods,events"
    listing = json.loads(kubectl.run("get", kinds, "-n", namespace, "-o", "json", timeout=120))
    return {
        f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in listing["items"]
    }


@dataclass
class Phase:
    """One phase's figures: seconds from the first apply, API requests and CPU seconds meanwhile."""

    applied: float = float("nan")
    all_deployments: float = float("nan")
    done: float = float("nan")
    finished: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)


def run_phase(
    kubectl: Kubectl, kubeconfig: Path, namespace: str, manifests: list[dict[str, Any]], n: int,
    *, count_model_deployments: bool, operator_pid: int, timeout: float,
) -> Phase:  # fmt: skip
    """Apply the manifests and wait until n are done: Ready ModelDeployments, or Ready Deployments."""
    phase = Phase()
    requests_before = api_requests(kubectl)
    cpu_before = component_cpu_seconds(operator_pid)
    with ReadinessWatch(kubeconfig, namespace) as readiness:
        started = time.monotonic()
        apply_in_parallel(kubeconfig, manifests)
        phase.applied = time.monotonic() - started
        while time.monotonic() - started < timeout:
            ready, deployments, available = readiness.counts()
            phase.finished = ready if count_model_deployments else available
            if deployments == n and phase.all_deployments != phase.all_deployments:
                phase.all_deployments = time.monotonic() - started
            if phase.finished == n:
                break
            time.sleep(0.5)
        phase.done = time.monotonic() - started
    phase.requests = api_requests(kubectl) - requests_before
    phase.cpu = {k: v - cpu_before.get(k, 0.0) for k, v in component_cpu_seconds(operator_pid).items()}
    return phase


def delete_namespace(kubectl: Kubectl, namespace: str) -> None:
    """Wait until it is gone: its garbage collection would otherwise load the next phase or run."""
    kubectl.run("delete", "namespace", namespace, "--timeout=900s", timeout=960)


def print_phase(title: str, phase: Phase, n: int) -> None:
    print(
        f"\n{title}: CPU seconds from the first apply to done ({os.cpu_count()} cores x {phase.done:.0f} s)"
    )
    for name, seconds in sorted(phase.cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:<26}{seconds:>8.1f}")
    print_requests(phase.requests, n)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="ModelDeployments to apply (default 200)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle period to count writes in (s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting for Ready after (s)")
    args = parser.parse_args()

    cluster = start_dev_cluster()
    kubeconfig = Path(cluster.kubeconfig)
    kubectl = Kubectl(kubeconfig)
    install_crds(kubectl, *FERRYMAN_CRDS)
    stamp = int(time.time())

    # The anchor: the same Services and Deployments applied straight, as a pipeline without an operator would.
    namespace = f"bench-anchor-{stamp}"
    kubectl.run("create", "namespace", namespace)
    try:
        anchor = run_phase(
            kubectl, kubeconfig, namespace, anchor_manifests(namespace, args.n), args.n,
            count_model_deployments=False, operator_pid=-1, timeout=args.timeout,
        )  # fmt: skip
    finally:
        delete_namespace(kubectl, namespace)

    namespace = f"bench-scale-{stamp}"
    kubectl.run("create", "namespace", namespace)
    log = Path(f"/tmp/ferryman-operator-scale-{namespace}.log")
    operator = start_operator(kubeconfig, namespace, log)
    try:
        time.sleep(3)  # let the operator list and start watching
        scale = run_phase(
            kubectl, kubeconfig, namespace, model_deployments(namespace, args.n), args.n,
            count_model_deployments=True, operator_pid=operator.pid, timeout=args.timeout,
        )  # fmt: skip
        if scale.finished < args.n:
            report_stragglers(kubectl, namespace)
        before = versions(kubectl, namespace)
        time.sleep(args.idle)
        after = versions(kubectl, namespace)
        idle_writes = sum(1 for key in after.keys() | before.keys() if after.get(key) != before.get(key))
        rss = peak_rss_mb(operator.pid)
    finally:
        # While the operator runs: it removes its finalizers from the ModelDeployments being deleted.
        delete_namespace(kubectl, namespace)
        operator.terminate()
        operator.wait(timeout=30)

    print(f"\nModelDeployments: {args.n}   (operator log: {log})")
    print(f"{'measure':<44}{'operator':>10}{'anchor':>10}{'goal':>12}")
    print(f"{'apply (16 threads, server-side)':<44}{scale.applied:>9.1f}s{anchor.applied:>9.1f}s")
    print(f"{'every Deployment created':<44}{scale.all_deployments:>9.1f}s{anchor.all_deployments:>9.1f}s")
    ready_row = "all Ready (operator: status; anchor: pods)"
    print(f"{ready_row:<44}{scale.done:>9.1f}s{anchor.done:>9.1f}s{'<= 60 s':>12}")
    print(f"{'':<44}({scale.finished}/{args.n} Ready; anchor {anchor.finished}/{args.n})")
    print(f"{'operator peak RSS':<44}{rss:>8.0f}MB{'':>10}{'<= 200 MB':>12}")
    print(f"{f'writes during {args.idle:.0f} s idle':<44}{idle_writes:>10}{'':>10}{'0':>12}")
    print(f"operator / anchor, time to all Ready: {scale.done / anchor.done:.2f}x")
    print_phase("Operator", scale, args.n)
    print_phase("Anchor (no operator)", anchor, args.n)
    return 0 if scale.finished == args.n and anchor.finished == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
