"""Manifests and helpers for the echo test app (echo_server.py beside this file) on the local cluster.

Each echo Deployment's pods run the echo server as a local process bound to the pod IP (the dev cluster's
pod runner), answer every request with the Deployment's name, and export ferryman_* metrics at /metrics
with the prometheus.io/* annotations and ferryman.dev/* labels the e2e Prometheus keys on.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

from ferryman_testing.kube_cli import Kubectl, Manifest
from ferryman_testing.polling import NotYet, wait_for

ECHO_SERVER = Path(__file__).resolve().parent / "echo_server.py"
ECHO_PORT = 8080


def echo_deployment(
    name: str,
    namespace: str,
    *,
    track: str = "stable",
    version: str = "v1",
    model_deployment: str = "echo",
    scrape: bool = True,
    replicas: int = 1,
) -> Manifest:
    labels = {
        "app": name,
        "ferryman.dev/model-deployment": model_deployment,
        "ferryman.dev/track": track,
        "ferryman.dev/model-version": version,
    }
    annotations = (
        {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(ECHO_PORT),
            "prometheus.io/path": "/metrics",
        }
        if scrape
        else {}
    )
    container = {
        "name": "echo",
        "image": "ferryman.dev/e2e-echo:local",  # the pod runner runs `command`, the image is never pulled
        "command": [sys.executable, str(ECHO_SERVER)],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "PORT", "value": str(ECHO_PORT)},
            {"name": "ECHO_NAME", "value": name},
            {"name": "ECHO_MODEL", "value": model_deployment},
            {"name": "ECHO_VERSION", "value": version},
        ],
        "ports": [{"name": "http", "containerPort": ECHO_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": ECHO_PORT}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 2},
            },
        },
    }


def echo_service(name: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": ECHO_PORT, "targetPort": ECHO_PORT}],
        },
    }


def wait_deployment_ready(kubectl: Kubectl, name: str, namespace: str, timeout: float = 60.0) -> None:
    def ready() -> bool:
        status = kubectl.get("deployment", name, namespace).get("status", {})
        if status.get("readyReplicas", 0) >= 1 and status.get("unavailableReplicas", 0) == 0:
            return True
        raise NotYet(status)

    wait_for(f"Deployment {namespace}/{name} ready", ready, timeout, every=0.2)


def wait_service_endpoints(kubectl: Kubectl, name: str, namespace: str, timeout: float = 30.0) -> list[str]:
    """Wait until the Service's EndpointSlices list a ready address; returns the ready addresses."""

    def listed() -> list[str]:
        slices = kubectl.get_json(
            "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={name}"
        )
        return [
            address
            for item in slices["items"]
            for endpoint in item.get("endpoints") or []
            if endpoint.get("conditions", {}).get("ready")
            for address in endpoint["addresses"]
        ]

    return wait_for(f"ready endpoints of Service {namespace}/{name}", listed, timeout, every=0.2)


def pod_ips(kubectl: Kubectl, app: str, namespace: str) -> list[str]:
    out = kubectl.run("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json")
    return [p["status"]["podIP"] for p in json.loads(out)["items"] if p.get("status", {}).get("podIP")]


def requests_served(pod_ip: str) -> int:
    """ferryman_requests_total as the pod itself reports it (read directly, not through Prometheus)."""
    with urllib.request.urlopen(f"http://{pod_ip}:{ECHO_PORT}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^ferryman_requests_total\{[^}]*\} (\d+)", text, re.MULTILINE)
    if match is None:
        raise AssertionError(f"no ferryman_requests_total in the metrics of {pod_ip}")
    return int(match.group(1))
