"""Time from a step rise in load to enough serving pods Ready: Ferryman's autoscaler on requests in flight
against CPU-based scaling of the same pods under the same load.

    .venv/bin/python bench/autoscaling.py                  # 20 clients, 120 s of load per scaler
    .venv/bin/python bench/autoscaling.py --clients 12 --seconds 90

Everything real: the local cluster with kube-controller-manager's HPA controller (sync every 15 s),
serving processes as pods, Traefik, Prometheus scraping every second, prometheus-adapter (built from
the Go module proxy, cached) serving both the custom metrics API and the resource metrics API, the
operator as `ferryman operator`.

Load: CLIENTS closed-loop clients through the Gateway against a slow model (a 600x600 matrix product
per request), so about CLIENTS requests are in flight whatever the machine's speed. One pod per
TARGET_IN_FLIGHT requests in flight is "enough" (at most MAX_REPLICAS).

- ferryman: a ModelDeployment with `autoscaling: {minReplicas: 1, maxReplicas: 4, targetInFlight: 4}`
  (the HPA the operator makes: Pods metric ferryman_inflight_requests).
- anchor, CPU: what a user of KServe's raw deployment mode or a plain Deployment gets: the same pods
  (the operator's Deployment copied, under other labels, with its own Service and HTTPRoute) and an
  HPA on CPU utilization, KServe's defaults: requests cpu 1 per pod (a pod runs one inference thread,
  so 1 CPU is its real need) and a target of 80%. The resource metrics API is served by the same
  prometheus-adapter from each serving process's own CPU counter (host-process pods have no cgroup
  for metrics-server to read); the HPA controller's logic is the real one.

Both get the same resources, scale-down window and bounds. Caveat printed with the figures: the pods
share this machine's cores (2 here), so CPU utilization per pod falls as pods are added; on a cluster
each pod would have its own CPU.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ferryman_testing.bad_models import make_slow_model
from ferryman_testing.kube_cli import Kubectl, Manifest
from ferryman_testing.load import LoadReport, concurrent_clients, infer_body, merged
from ferryman_testing.manifests import model_deployment
from ferryman_testing.metrics_adapter import MetricsAdapter
from ferryman_testing.operator import operator_process
from ferryman_testing.polling import wait_for
from ferryman_testing.stack import start_stack
from ferryman_testing.traefik import Gateway

NAMESPACE = "demo"  # operator_process watches this namespace
MODEL = "scaled"  # the model name clients call; both scalers serve it
MAX_REPLICAS = 4
TARGET_IN_FLIGHT = 4
CPU_TARGET_PERCENT = 80  # KServe's default for its HPA
RESOURCES = {"requests": {"cpu": "1", "memory": "512Mi"}}  # KServe's default cpu request
SCALE_DOWN = "30s"
ANCHOR = "cpu-anchor"


@dataclass
class Run:
    """What one scaler did under the load: replicas over time and what the users saw."""

    name: str
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, desired, ready)
    load: LoadReport = field(default_factory=LoadReport)

    def first_time(self, ready_at_least: int) -> float | None:
        return next((t for t, _, ready in self.samples if ready >= ready_at_least), None)

    def max_ready(self) -> int:
        return max((ready for _, _, ready in self.samples), default=0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20, help="closed-loop clients (default 20)")
    parser.add_argument("--seconds", type=float, default=120.0, help="load per scaler (default 120)")
    args = parser.parse_args()
    enough = min(MAX_REPLICAS, math.ceil(args.clients / TARGET_IN_FLIGHT))

    workdir = Path(tempfile.mkdtemp(prefix="ferryman-autoscaling-bench-"))
    stack = start_stack(workdir, NAMESPACE)
    cluster, kubectl, prometheus, gateway = stack.cluster, stack.kubectl, stack.prometheus, stack.gateway
    adapter = None
    try:
        (workdir / "adapter").mkdir()
        adapter = MetricsAdapter.start(
            kubectl, cluster.kubeconfig, prometheus.url, cluster.host_address, workdir / "adapter",
            resource_metrics=True,
        )  # fmt: skip
        uri = make_slow_model(workdir / "model" / "model.onnx", size=600).as_uri()
        with operator_process(
            cluster.kubeconfig, prometheus.url, workdir / "operator.log", namespace=NAMESPACE
        ):
            clean_up(kubectl)
            kubectl.apply([ferryman_manifest(uri, gateway)])
            stable = wait_for(
                "the stable Deployment Ready",
                lambda: ready_deployment(kubectl, f"{MODEL}-stable"),
                timeout=180,
            )
            kubectl.apply(anchor_manifests(stable, gateway))
            wait_for("the anchor Deployment Ready", lambda: ready_deployment(kubectl, ANCHOR), timeout=180)
            runs = [
                measure(kubectl, gateway, "ferryman (in flight)", MODEL + "-stable", host(MODEL), args),
                measure(kubectl, gateway, "anchor (CPU 80%)", ANCHOR, host(ANCHOR), args),
            ]
            clean_up(kubectl)
    finally:
        if adapter is not None:
            adapter.stop()
        stack.close()
    print_table(runs, args.clients, enough)
    return 0


def host(name: str) -> dict[str, str]:
    return {"Host": f"{name}.autoscaling.bench.test"}


def ferryman_manifest(uri: str, gateway: Gateway) -> Manifest:
    autoscaling = {
        "minReplicas": 1,
        "maxReplicas": MAX_REPLICAS,
        "targetInFlight": TARGET_IN_FLIGHT,
        "scaleDownStabilization": SCALE_DOWN,
    }
    return model_deployment(
        MODEL, NAMESPACE, uri, replicas=None, serving={"autoscaling": autoscaling, "resources": RESOURCES},
        parent_ref=gateway.parent_ref, hostname=host(MODEL)["Host"],
    )  # fmt: skip


def anchor_manifests(stable: dict[str, Any], gateway: Gateway) -> list[Manifest]:
    """The operator's pods, copied under labels of their own, a Service and route to them, a CPU HPA."""
    labels = {"app": ANCHOR}
    template = copy.deepcopy(stable["spec"]["template"])
    template["metadata"]["labels"] = labels
    port = template["spec"]["containers"][0]["ports"][0]["containerPort"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": ANCHOR, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template,
                 "strategy": stable["spec"]["strategy"]},
    }  # fmt: skip
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": ANCHOR, "namespace": NAMESPACE},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": ANCHOR, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [dict(gateway.parent_ref)],
            "hostnames": [host(ANCHOR)["Host"]],
            "rules": [{"backendRefs": [{"name": ANCHOR, "port": port}]}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": ANCHOR, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ANCHOR},
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
        },
    }  # fmt: skip
    return [deployment, service, route, hpa]


def ready_deployment(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    listing = kubectl.get_json("deployment", "-n", NAMESPACE, "--field-selector", f"metadata.name={name}")
    ready = [d for d in listing["items"] if d.get("status", {}).get("readyReplicas", 0) >= 1]
    return ready[0] if ready else None


def replicas(kubectl: Kubectl, name: str) -> tuple[int, int]:
    found = kubectl.get("deployment", name, NAMESPACE)
    return int(found["spec"].get("replicas", 0)), int(found.get("status", {}).get("readyReplicas", 0))


def measure(
    kubectl: Kubectl, gateway: Gateway, name: str, deployment: str, headers: dict[str, str], args: Any
) -> Run:
    """Wait for one pod and an answer through the Gateway, then the load step; sample every second."""
    wait_for(f"{deployment} back at 1 pod", lambda: replicas(kubectl, deployment) == (1, 1), timeout=300)
    wait_for(f"{name} answering through the Gateway", lambda: gateway_answers(gateway, headers), timeout=60)
    run = Run(name)
    with concurrent_clients(gateway.base_url, MODEL, args.clients, headers=headers) as clients:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.seconds:
            desired, ready = replicas(kubectl, deployment)
            run.samples.append((elapsed, desired, ready))
            sys.stderr.write(f"\r[{name}] {elapsed:5.0f} s: desired {desired}, ready {ready}  ")
            time.sleep(1.0)
    sys.stderr.write("\n")
    run.load = merged(clients)
    return run


def gateway_answers(gateway: Gateway, headers: dict[str, str]) -> bool:
    url = f"{gateway.base_url}/v2/models/{MODEL}/infer"
    return httpx.post(url, json=infer_body(), headers=headers, timeout=10).status_code == 200


def clean_up(kubectl: Kubectl) -> None:
    kubectl.delete("modeldeployment", MODEL, NAMESPACE, wait=True)
    for kind in ("hpa", "httproute", "service", "deployment"):
        kubectl.delete(kind, ANCHOR, NAMESPACE, wait=True)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def print_table(runs: list[Run], clients: int, enough: int) -> None:
    print(f"\n{clients} closed-loop clients from t=0; enough = {enough} pods Ready (1 per "
          f"{TARGET_IN_FLIGHT} in flight, at most {MAX_REPLICAS})")  # fmt: skip
    print(f"{'scaler':<24}{'>1 pod':>8}{'enough':>8}{'max':>5}{'answered':>10}{'failed':>8}"
          f"{'p50 ms':>8}{'p99 ms':>9}")  # fmt: skip
    for run in runs:
        grown, full = run.first_time(2), run.first_time(enough)
        latencies = [s * 1000 for s in run.load.latencies]
        print(
            f"{run.name:<24}{seconds(grown):>8}{seconds(full):>8}{run.max_ready():>5}{run.load.total:>10}"
            f"{run.load.errors:>8}{percentile(latencies, 50):>8.0f}{percentile(latencies, 99):>9.0f}"
        )
    print("(>1 pod, enough: seconds from the load step until that many pods were Ready; '-': never)")
    print("Caveat: every pod shares this machine's cores, so per-pod CPU falls as pods are added.")


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
