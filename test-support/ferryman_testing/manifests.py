"""The ModelDeployment and TrainingJob manifests every test, the demo and the benchmarks build: one builder
each, keyword options.

model_deployment("fraud", "ns", "file:///models/v1/model.onnx")                # serving only
model_deployment("fraud", "ns", uri, strategy={"canary": {...}},
                 parent_ref=gateway.parent_ref, hostname="ns.ferryman.test")   # behind the Gateway
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ferryman_testing import REPO_ROOT
from ferryman_testing.kube_cli import Manifest

API_VERSION = "ferryman.dev/v1alpha1"
# The pod runner runs a container's command when its image is not built locally: this venv's Python.
EXAMPLE_TRAINER = [sys.executable, str(REPO_ROOT / "examples" / "train_breast_cancer.py")]


def model_deployment(
    name: str,
    namespace: str,
    uri: str,
    *,
    replicas: int | None = 1,
    serving: Mapping[str, Any] | None = None,
    strategy: Mapping[str, Any] | None = None,
    parent_ref: Mapping[str, str] | None = None,
    hostname: str | None = None,
    gateway: Mapping[str, Any] | None = None,
) -> Manifest:
    """A ModelDeployment serving `uri`.

    serving: more spec.serving fields (podAnnotations, resources, ...) beside `replicas` (None: left out,
        as autoscaling requires).
    strategy: spec.strategy as written (e.g. {"canary": {...}}); none means a plain update.
    parent_ref: the Gateway to attach to; with it, traffic mode is `gateway`, restricted to `hostname`
        when given, plus any further spec.traffic.gateway fields in `gateway` (e.g. mirrorWith).
    """
    fixed = {} if replicas is None else {"replicas": replicas}
    spec: dict[str, Any] = {"model": {"uri": uri}, "serving": {**fixed, **(serving or {})}}
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


def training_job(
    name: str,
    namespace: str,
    tracking_uri: str,
    *,
    command: list[str],
    experiment: str,
    registered_model: str,
    env: Mapping[str, str] | None = None,
    **spec: Any,
) -> Manifest:
    """A TrainingJob running `command` in its training container (image name only informative here),
    logging to `tracking_uri`; `spec` adds further spec fields as written (params, data, validation,
    promote, backoffLimit, schedule...)."""
    container = {
        "name": "train",
        "image": "ferryman-trainer",
        "command": list(command),
        "env": [{"name": key, "value": value} for key, value in (env or {}).items()],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {"spec": {"containers": [container]}},
            "mlflow": {
                "trackingUri": tracking_uri,
                "experiment": experiment,
                "registeredModel": registered_model,
            },
            **spec,
        },
    }
