"""Time from a bad canary's first user traffic to weight 0, on the real stack, with default settings.

    .venv/bin/python bench/rollback_time.py                 # default canary settings, 100 req/s
    .venv/bin/python bench/rollback_time.py --rate 50 --interval 30s

Everything real: the local cluster, serving processes, Traefik weights, Prometheus scraping every
second, the operator as `ferryman operator`. The canary is a model made by the harness
(ferryman_testing/bad_models.py) that fails requests whose first feature is non-zero; the load sends
such a request every other time, so it fails half of them. Default strategy: steps 5/25/50/100,
interval 30s, default analysis. The clock starts when Traefik first has a non-zero canary weight in
force and stops when its weight is 0 again; failed user requests are counted meanwhile.
Anchor: Flagger's default analysis modelled in bench/judge.py (stepWeight 10, interval 1m, threshold 5,
success rate >= 99%), fed the same request rate and error rate, 1,000 simulated runs; its median time
from first canary traffic to rollback is printed beside the measured figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import judge  # bench/judge.py, beside this file: the anchor's model
from ferryman_testing.bad_models import make_failing_model
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import infer_body, steady_load
from ferryman_testing.manifests import model_deployment
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import operator_process
from ferryman_testing.polling import wait_for
from ferryman_testing.stack import start_stack
from ferryman_testing.traefik import Gateway

NAMESPACE = "demo"  # operator_process watches this namespace
HOST = {"Host": "rollback.bench.test"}


def manifest(uri: str, parent_ref: dict[str, str], interval: str | None) -> dict[str, object]:
    canary: dict[str, object] = {}  # the CRD's defaults: steps 5/25/50/100, interval 30s, default analysis
    if interval:
        canary["interval"] = interval
    return model_deployment(
        "bench", NAMESPACE, uri, strategy={"canary": canary}, parent_ref=parent_ref, hostname=HOST["Host"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="user requests per second (default 100)")
    parser.add_argument("--interval", default=None, help="canary interval (default: the CRD default, 30s)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ferryman-rollback-bench-"))
    stack = start_stack(workdir, NAMESPACE)
    cluster, kubectl, prometheus, gateway = stack.cluster, stack.kubectl, stack.prometheus, stack.gateway
    good = make_gradient_boosting_model(workdir / "good", trees=20).model_path.as_uri()
    bad = make_failing_model(workdir / "bad" / "model.onnx").as_uri()
    try:
        with operator_process(
            cluster.kubeconfig, prometheus.url, workdir / "operator.log", namespace=NAMESPACE
        ):
            kubectl.delete("modeldeployment", "bench", NAMESPACE, wait=True)
            kubectl.apply([manifest(good, gateway.parent_ref, args.interval)])
            wait_for("the stable version to serve", lambda: phase(kubectl) == "Succeeded", timeout=180)
            gateway.wait_route_accepted(NAMESPACE, "bench")
            time.sleep(3)
            half_failing = [infer_body(1, first_feature=0.0), infer_body(2)]  # the model fails the second
            with steady_load(
                gateway.base_url, "bench", rate=args.rate, headers=HOST, bodies=half_failing
            ) as load:
                kubectl.apply([manifest(bad, gateway.parent_ref, args.interval)])
                first_traffic = wait_weight(gateway, lambda w: w > 0, timeout=300)
                before = load.snapshot().errors
                back_to_zero = wait_weight(gateway, lambda w: w == 0, timeout=900)
                failed = load.snapshot().errors - before
            status = kubectl.get("modeldeployment", "bench", NAMESPACE)["status"]
            kubectl.delete("modeldeployment", "bench", NAMESPACE, wait=True)
    finally:
        stack.close()
    seconds = back_to_zero - first_traffic
    flagger = flagger_seconds(args.rate, FAILING_SHARE)
    print(f"\nbad canary (fails {FAILING_SHARE:.0%} of requests) at {args.rate:.0f} req/s, default analysis")
    print(f"{'first canary traffic -> weight 0 in Traefik':<48}{seconds:>8.1f} s   (goal <= 30 s)")
    anchor = "Flagger default analysis (modelled, median)"
    print(f"{anchor:<48}{flagger:>8.1f} s   ({flagger / seconds:.1f}x longer)")
    print(f"{'user requests failed meanwhile':<48}{failed:>8}")
    print(f"{'final phase':<48}{status['phase']:>8}   {status.get('message', '')[:120]}")
    return 0


FAILING_SHARE = 0.5  # the bench's canary fails every request whose first feature is non-zero


def flagger_seconds(rate: float, error_rate: float, runs: int = 1000) -> float:
    """Median time to rollback of Flagger's default analysis on this traffic (bench/judge.py's model)."""
    rng = np.random.default_rng(0)
    scenario = judge.Scenario("flagger", rate, judge.Track(errors=error_rate), anchor="flagger")
    times = [
        judge.simulate_threshold_anchor(rng, scenario, flagger=True).seconds_to_weight_zero
        for _ in range(runs)
    ]
    return float(statistics.median(t for t in times if t is not None))


def phase(kubectl: Kubectl) -> str | None:
    status = kubectl.get("modeldeployment", "bench", NAMESPACE).get("status") or {}
    return status.get("phase")


def wait_weight(gateway: Gateway, condition: Callable[[int], bool], timeout: float) -> float:
    """Poll the canary weight Traefik has in force; return the monotonic time the condition first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        weights = gateway.route_weights(NAMESPACE, "bench").get(0, {})
        if condition(weights.get("bench-canary", 0)):
            return time.monotonic()
        time.sleep(0.2)
    raise SystemExit("timed out waiting for the canary weight")


if __name__ == "__main__":
    sys.exit(main())
