"""The ModelDeployment manifest every test, the demo and the benchmarks build: one builder, keyword options.

model_deployment("fraud", "ns", "file:///models/v1/model.onnx")                # serving only
model_deployment("fraud", "ns", uri, strategy={"canary": {...}},
                 parent_ref=gateway.parent_ref, hostname="ns.ferryman.test")   # behind the Gateway
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferryman_testing.kube_cli import Manifest

API_VERSION = "ferryman.dev/v1alpha1"


def model_deployment(
    name: str,
    namespace: str,
    uri: str,
    *,
    replicas: int = 1,
    serving: Mapping[str, Any] | None = None,
    strategy: Mapping[str, Any] | None = None,
    parent_ref: Mapping[str, str] | None = None,
    hostname: str | None = None,
    gateway: Mapping[str, Any] | None = None,
) -> Manifest:
    """A ModelDeployment serving `uri`.

    serving: more spec.serving fields (podAnnotations, resources, ...) beside `replicas`.
    strategy: spec.strategy as written (e.g. {"canary": {...}}); none means a plain update.
    parent_ref: the Gateway to attach to; with it, traffic mode is `gateway`, restricted to `hostname`
        when given, plus any further spec.traffic.gateway fields in `gateway` (e.g. mirrorWith).
    """
    spec: dict[str, Any] = {"model": {"uri": uri}, "serving": {"replicas": replicas, **(serving or {})}}
    if parent_ref is not None:
        routing: dict[str, Any] = {"parentRefs": [dict(parent_ref)]}
        if hostname is not None:
            routing["hostnames"] = [hostname]
        spec["traffic"] = {"mode": "gateway", "gateway": {**routing, **(gateway or {})}}
    elif hostname is not None or gateway:
        raise ValueError("hostname and gateway options need a parent_ref (traffic mode gateway)")
    if strategy is not None:
        spec["strategy"] = dict(strategy)
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
