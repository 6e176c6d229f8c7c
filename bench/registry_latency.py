"""How fast a ModelDeployment follows an MLflow alias, and what following costs the registry.

    .venv/bin/python bench/registry_latency.py               # 20 moves each way, 100 objects x 10 aliases
    .venv/bin/python bench/registry_latency.py --moves 5 --count-minutes 1

Runs against the local dev cluster (started or reused), a real `mlflow server` (SQLite) on loopback, and
`ferryman operator` as users run it. The operator reaches MLflow through a counting proxy on loopback,
so the request count is measured outside the operator. Serving pods carry the dev cluster's simulate
annotation (Ready without a process): what is measured is the control loop, not model loading.

1. Latency: the alias of a tracked model is moved MOVES times; each time the clock runs from the
   registry call that moves it to the moment the canary Deployment's pod template names the new pinned
   version. Once with the MLflow webhook (and polling at the default 30 s), once with polling only.
   Each move follows the moment the previous one was seen, i.e. just after a poll: the poll-only figure
   is therefore the worst case, a full poll period (a move at a random moment waits half that on
   average).
2. Cost: 100 ModelDeployments tracking 10 aliases (10 each); registry requests per minute while idle,
   beside what one poll per object would cost (the anchor: each object, or each pod, asking for itself).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import start_dev_cluster
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.manifests import model_deployment
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.model_deployments import track_uri
from ferryman_testing.models import make_identity_model
from ferryman_testing.polling import wait_for
from ferryman_testing.registry import Registry
from ferryman_testing.servers import free_port

SIMULATE_ANNOTATION = "devcluster.ferryman.dev/simulate"
ALIAS = "production"
SECRET = "bench-webhook-secret"
DEFAULT_POLL_SECONDS = 30.0
# The rollout holds at weight 0 (a pause first): each move replaces a canary that takes no traffic.
HOLDING_CANARY = {"canary": {"steps": [{"pause": {}}, {"weight": 50}]}}


class CountingProxy:
    """A loopback reverse proxy to MLflow that counts the requests passing through it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.count = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.count += 1
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = httpx.request(
                    self.command, f"{proxy.upstream}{self.path}", content=body, headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def operator(kubeconfig: Path, namespace: str, registry_url: str, webhook_port: int | None) -> Iterator[None]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FERRYMAN_NAMESPACES": json.dumps([namespace]),
        "FERRYMAN_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
        "FERRYMAN_MLFLOW_TRACKING_URI": registry_url,
        "FERRYMAN_PROMETHEUS_URL": "http://127.0.0.1:9",
    }
    if webhook_port is not None:
        env["FERRYMAN_REGISTRY_WEBHOOK_ADDRESS"] = f"127.0.0.1:{webhook_port}"
        env["FERRYMAN_REGISTRY_WEBHOOK_SECRET"] = SECRET
    log = Path(f"/tmp/ferryman-bench-registry-{namespace}.log")
    ferryman = Path(sys.executable).parent / "ferryman"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ferryman), "operator"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)  # listing and watching
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def tracking(name: str, namespace: str, model: str, strategy: dict[str, Any] | None) -> dict[str, Any]:
    return model_deployment(
        name,
        namespace,
        f"models:/{model}@{ALIAS}",
        strategy=strategy,
        serving={"podAnnotations": {SIMULATE_ANNOTATION: "true"}},
    )


def stable_uri(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    status = kubectl.get("modeldeployment", name, namespace).get("status") or {}
    return status.get("stableUri") if status.get("phase") == "Succeeded" else None


def measure_moves(
    kubectl: Kubectl, registry: Registry, proxy: CountingProxy, moves: int, webhook_port: int | None
) -> list[float]:
    """Seconds from each alias move to a canary Deployment of the moved-to version."""
    namespace = f"bench-registry-{'webhook' if webhook_port else 'poll'}-{int(time.time())}"
    kubectl.run("create", "namespace", namespace)
    model = f"latency-{namespace.rsplit('-', 1)[-1]}-{'w' if webhook_port else 'p'}"
    versions = [registry.register(model, MODEL_DIR) for _ in range(moves + 1)]
    registry.move_alias(model, ALIAS, versions[0])
    latencies: list[float] = []
    try:
        with operator(Path(kubectl.kubeconfig), namespace, proxy.url, webhook_port):
            kubectl.apply([tracking("md", namespace, model, HOLDING_CANARY)])
            wait_for("stable", lambda: stable_uri(kubectl, namespace, "md"), timeout=120)
            for version in versions[1:]:
                pinned = f"models:/{model}/{version}"
                moved_at = time.monotonic()
                registry.move_alias(model, ALIAS, version)

                def moved(p: str = pinned) -> bool:
                    return track_uri(kubectl, namespace, "canary", "md") == p

                wait_for(f"canary {pinned}", moved, timeout=DEFAULT_POLL_SECONDS * 3, every=0.1)
                latencies.append(time.monotonic() - moved_at)
                print(f"  {'webhook' if webhook_port else 'poll'} move to {version}: {latencies[-1]:.2f} s")
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false")
    return latencies


def measure_calls(
    kubectl: Kubectl, registry: Registry, proxy: CountingProxy, minutes: float
) -> tuple[float, int]:
    """Registry requests per minute with 100 ModelDeployments tracking 10 aliases, once all are Ready."""
    namespace = f"bench-registry-calls-{int(time.time())}"
    kubectl.run("create", "namespace", namespace)
    models = [f"calls-{namespace.rsplit('-', 1)[-1]}-{i}" for i in range(10)]
    for model in models:
        registry.move_alias(model, ALIAS, registry.register(model, MODEL_DIR))
    objects = [tracking(f"md-{i:03d}", namespace, models[i % 10], None) for i in range(100)]
    try:
        with operator(Path(kubectl.kubeconfig), namespace, proxy.url, None):
            kubectl.apply(objects)

            def all_serving() -> bool:
                listing = json.loads(kubectl.run("get", "modeldeployments", "-n", namespace, "-o", "json"))
                return (
                    sum((i.get("status") or {}).get("phase") == "Succeeded" for i in listing["items"]) == 100
                )

            wait_for("100 ModelDeployments serving", all_serving, timeout=600, every=2)
            before = proxy.count
            time.sleep(minutes * 60)
            return (proxy.count - before) / minutes, len(objects)
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false")


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{name:<34}{statistics.median(ordered):>9.2f}s{p95:>9.2f}s{max(ordered):>9.2f}s{len(ordered):>7}"


MODEL_DIR = Path(tempfile.mkdtemp(prefix="ferryman-bench-model-"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--moves", type=int, default=20, help="alias moves per path (default 20)")
    parser.add_argument("--count-minutes", type=float, default=3.0, help="idle minutes to count requests")
    args = parser.parse_args()
    make_identity_model(MODEL_DIR / "model.onnx")

    cluster = start_dev_cluster()
    kubectl = Kubectl(Path(cluster.kubeconfig))
    install_crds(kubectl, *FERRYMAN_CRDS)
    env = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
           "MLFLOW_WEBHOOK_CACHE_TTL": "0"}  # fmt: skip
    with MlflowServer(Path(tempfile.mkdtemp(prefix="ferryman-bench-mlflow-")), env=env) as mlflow:
        registry = Registry(mlflow.url)
        proxy = CountingProxy(mlflow.url)
        webhook_port = free_port()
        registry.client.create_webhook(
            name="ferryman", url=f"http://127.0.0.1:{webhook_port}/registry/mlflow",
            events=["model_version_alias.created"], secret=SECRET,
        )  # fmt: skip
        webhook = measure_moves(kubectl, registry, proxy, args.moves, webhook_port)
        polled = measure_moves(kubectl, registry, proxy, args.moves, None)
        per_minute, objects = measure_calls(kubectl, registry, proxy, args.count_minutes)
        proxy.close()

    print(f"\nalias move -> canary Deployment of the new version ({args.moves} moves each)")
    print(f"{'path':<34}{'median':>10}{'p95':>10}{'max':>10}{'moves':>7}")
    print(summary("webhook (+ poll every 30 s)", webhook) + "   goal: <= 10 s")
    print(summary("poll only (every 30 s)", polled) + "   goal: <= one poll period")
    naive = objects * 60 / DEFAULT_POLL_SECONDS
    print(f"\nregistry requests per minute, {objects} ModelDeployments tracking 10 aliases, idle:")
    print(f"{'ferryman (one request per alias per poll)':<46}{per_minute:>8.1f}")
    print(
        f"{'anchor: one request per object per poll':<46}{naive:>8.1f}   (pods resolving it: per pod start)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
