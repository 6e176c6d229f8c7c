"""How the operator scales: N ModelDeployments to Ready, its peak memory, and writes while idle.

    .venv/bin/python bench/operator_scale.py            # N=200
    .venv/bin/python bench/operator_scale.py --n 1000

Runs against the local dev cluster (started or reused). The operator runs as `ferryman operator`
in its own process so its RSS is its own. The benchmark's pods carry the dev cluster's simulate
annotation (through spec.serving.podAnnotations): the pod runner marks them Ready without starting a
process, since 1,000 model servers do not fit on 2 cores. The API server, controller-manager,
scheduler and operator do all their real work.
Goal (issue 3): 1,000 in <= 60 s, <= 200 MB, 0 idle writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import start_dev_cluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.manifests import model_deployment
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


def count_ready(kubectl: Kubectl, namespace: str) -> tuple[int, int]:
    """(ModelDeployments whose status is Ready, Deployments that exist)."""
    listing = json.loads(kubectl.run("get", "modeldeployments,deployments", "-n", namespace, "-o", "json"))
    ready = deployments = 0
    for item in listing["items"]:
        if item["kind"] == "Deployment":
            deployments += 1
            continue
        conditions = (item.get("status") or {}).get("conditions", [])
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready, deployments


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


def versions(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    kinds = "modeldeployments,deployments,replicasets,services,pods,events"
    listing = json.loads(kubectl.run("get", kinds, "-n", namespace, "-o", "json", timeout=120))
    return {
        f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in listing["items"]
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="ModelDeployments to apply (default 200)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle period to count writes in (s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting for Ready after (s)")
    args = parser.parse_args()

    cluster = start_dev_cluster()
    kubectl = Kubectl(Path(cluster.kubeconfig))
    install_crds(kubectl, *FERRYMAN_CRDS)
    namespace = f"bench-scale-{int(time.time())}"
    kubectl.run("create", "namespace", namespace)
    log = Path(f"/tmp/ferryman-operator-scale-{namespace}.log")
    operator = start_operator(Path(cluster.kubeconfig), namespace, log)
    try:
        time.sleep(3)  # let the operator list and start watching
        started = time.monotonic()
        apply_in_parallel(Path(cluster.kubeconfig), model_deployments(namespace, args.n))
        applied = time.monotonic() - started
        ready = deployments = 0
        all_deployments = float("nan")
        while time.monotonic() - started < args.timeout:
            ready, deployments = count_ready(kubectl, namespace)
            if deployments == args.n and all_deployments != all_deployments:
                all_deployments = time.monotonic() - started
            if ready == args.n:
                break
            time.sleep(1)
        to_ready = time.monotonic() - started
        if ready < args.n:
            report_stragglers(kubectl, namespace)
        before = versions(kubectl, namespace)
        time.sleep(args.idle)
        after = versions(kubectl, namespace)
        idle_writes = sum(1 for key in after.keys() | before.keys() if after.get(key) != before.get(key))
        rss = peak_rss_mb(operator.pid)
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        kubectl.run("delete", "namespace", namespace, "--wait=false")

    print(f"\nModelDeployments: {args.n}   (operator log: {log})")
    print(f"{'measure':<40}{'value':>12}{'goal':>12}")
    print(f"{'apply (16 threads, server-side)':<40}{applied:>11.1f}s")
    print(f"{'every Deployment created':<40}{all_deployments:>11.1f}s")
    print(f"{'all Ready (status)':<40}{to_ready:>11.1f}s{'<= 60 s':>12}")
    print(f"{'':<40}({ready}/{args.n} Ready, {deployments} Deployments)")
    print(f"{'operator peak RSS':<40}{rss:>10.0f}MB{'<= 200 MB':>12}")
    print(f"{f'writes during {args.idle:.0f} s idle':<40}{idle_writes:>12}{'0':>12}")
    return 0 if ready == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
