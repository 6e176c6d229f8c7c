"""prometheus-adapter for the e2e tier: the custom metrics API that the real HPA controller reads.

`MetricsAdapter.start` builds (once, cached: scripts/build-prometheus-adapter) and runs the adapter on the
host address of the dev cluster, then registers it with the API server's aggregation layer as a real
cluster would: a Service without selector whose EndpointSlice names the host address (the dev cluster's
service proxy routes the ClusterIP there), and APIServices for custom.metrics.k8s.io v1beta1 and v1beta2
whose caBundle is the self-signed serving certificate made here.

Authentication without a front-proxy CA in the API server's flags: the aggregator presents its proxy
client certificate (kwokctl's admin certificate, signed by the cluster CA); the adapter trusts the
X-Remote-User headers of clients whose certificate that CA signed (--requestheader-client-ca-file), and
asks the API server (SubjectAccessReview) whether the original caller may read the metric.

The rule the HPA uses: ferryman_inflight_requests per pod, averaged over AVERAGE_WINDOW to smooth the
gauge's instants (RULES, the same as docs/autoscaling.md's Helm values).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ferryman_testing import REPO_ROOT
from ferryman_testing.certificates import write_self_signed
from ferryman_testing.kube_cli import Kubectl, Manifest
from ferryman_testing.polling import wait_for

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-prometheus-adapter"
BUILD_TIMEOUT_SECONDS = 1800  # a cold build took 7 min on 2 busy cores
NAMESPACE = "ferryman-custom-metrics"
SERVICE = "prometheus-adapter"
GROUP = "custom.metrics.k8s.io"
CUSTOM_METRICS_APIS = ((GROUP, "v1beta1", 100), (GROUP, "v1beta2", 200))  # (group, version, priority)
# The resource metrics API (what metrics-server serves to CPU-based HPAs), for bench/autoscaling.py's anchor.
RESOURCE_METRICS_API = ("metrics.k8s.io", "v1beta1", 100)
AVERAGE_WINDOW = "10s"  # Prometheus scrapes every 1 s in the e2e tier; docs suggest 1m for 15-30 s scrapes
RULES = {
    "rules": [
        {
            "seriesQuery": 'ferryman_inflight_requests{namespace!="",pod!=""}',
            "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
            "name": {"matches": "^ferryman_inflight_requests$", "as": "ferryman_inflight_requests"},
            "metricsQuery": (
                f"sum(avg_over_time(<<.Series>>{{<<.LabelMatchers>>}}[{AVERAGE_WINDOW}])) by (<<.GroupBy>>)"
            ),
        }
    ]
}
CPU_WINDOW = "10s"
# A serving pod's CPU from its own process counter (one container per pod, named `serving`), in place of
# the kubelet's cAdvisor figures that metrics-server reads: host-process pods have no cgroup of their own.
RESOURCE_RULES = {
    "cpu": {
        "containerQuery": (
            f"sum(label_replace(rate(process_cpu_seconds_total{{<<.LabelMatchers>>}}[{CPU_WINDOW}]),"
            ' "container", "serving", "", "")) by (<<.GroupBy>>)'
        ),
        # Required by the adapter; no series has a node label, so nodes report nothing.
        "nodeQuery": f'sum(rate(process_cpu_seconds_total{{<<.LabelMatchers>>, node!=""}}[{CPU_WINDOW}]))'
        " by (<<.GroupBy>>)",
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "containerLabel": "container",
    },
    "memory": {
        "containerQuery": (
            "sum(label_replace(process_resident_memory_bytes{<<.LabelMatchers>>},"
            ' "container", "serving", "", "")) by (<<.GroupBy>>)'
        ),
        "nodeQuery": 'sum(process_resident_memory_bytes{<<.LabelMatchers>>, node!=""}) by (<<.GroupBy>>)',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "containerLabel": "container",
    },
    "window": CPU_WINDOW,
}


def build_adapter() -> Path:
    result = subprocess.run(
        [str(BUILD_SCRIPT)], capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_SECONDS
    )
    if result.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def cluster_ca_file(kubeconfig: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    return Path(config["clusters"][0]["cluster"]["certificate-authority"])


@dataclass
class MetricsAdapter:
    process: subprocess.Popen[bytes]
    kubectl: Kubectl
    log: Path
    apis: tuple[tuple[str, str, int], ...]

    @classmethod
    def start(
        cls,
        kubectl: Kubectl,
        kubeconfig: Path,
        prometheus_url: str,
        host: str,
        workdir: Path,
        resource_metrics: bool = False,
    ) -> MetricsAdapter:
        """`resource_metrics` also serves metrics.k8s.io (pod CPU and memory) for CPU-based HPAs."""
        binary = build_adapter()
        port = free_port(host)
        # The aggregator checks the name <service>.<namespace>.svc against the caBundle it was given.
        cert, key = write_self_signed(workdir, ips=(host,), dns_names=(f"{SERVICE}.{NAMESPACE}.svc",))
        pem = cert.read_bytes()
        rules = workdir / "rules.yaml"
        rules.write_text(
            yaml.safe_dump({**RULES, "resourceRules": RESOURCE_RULES} if resource_metrics else RULES)
        )
        apis = (*CUSTOM_METRICS_APIS, RESOURCE_METRICS_API) if resource_metrics else CUSTOM_METRICS_APIS
        ca = cluster_ca_file(kubeconfig)
        args = [
            str(binary),
            f"--secure-port={port}",
            f"--bind-address={host}",
            f"--tls-cert-file={cert}",
            f"--tls-private-key-file={key}",
            f"--lister-kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--requestheader-client-ca-file={ca}",
            f"--client-ca-file={ca}",
            f"--prometheus-url={prometheus_url}",
            f"--config={rules}",
            "--metrics-relist-interval=2s",  # a new pod's series must be listed within seconds
            "--v=2",
        ]
        log = workdir / "adapter.log"
        with log.open("wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
        adapter = cls(process, kubectl, log, apis)
        try:
            kubectl.apply(registration(host, port, pem, apis))
            wait_for("the metrics APIs Available", adapter.available, timeout=90)
        except Exception as error:
            why = adapter.explain()
            adapter.stop()
            raise RuntimeError(f"{error}\n{why}") from error
        return adapter

    def api_service_names(self) -> list[str]:
        return [f"{version}.{group}" for group, version, _ in self.apis]

    def explain(self) -> str:
        """The APIServices' conditions and the adapter's last log lines, for a failed start."""
        listing = self.kubectl.run("get", "apiservice", *self.api_service_names(), "-o", "wide")
        return f"{listing}\nadapter log:\n{self.log.read_text()[-3000:]}"

    def available(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus-adapter exited: {self.log.read_text()[-3000:]}")
        for name in self.api_service_names():
            service = self.kubectl.get("apiservice", name)
            conditions = service.get("status", {}).get("conditions", [])
            if not any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                return False
        return True

    def stop(self) -> None:
        """APIServices first: an unavailable one would break discovery for everyone using the cluster."""
        for name in self.api_service_names():
            self.kubectl.run("delete", "apiservice", name, "--ignore-not-found")
        self.kubectl.run("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def registration(
    host: str, port: int, ca_bundle: bytes, apis: tuple[tuple[str, str, int], ...] = CUSTOM_METRICS_APIS
) -> list[Manifest]:
    """Namespace, Service + EndpointSlice to the host address, and the APIServices naming them."""
    service: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port, "protocol": "TCP"}]},
    }
    endpoints: Manifest = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": SERVICE},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    api_services: list[Manifest] = [
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{group}"},
            "spec": {
                "group": group,
                "version": version,
                "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443},
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": priority,
            },
        }
        for group, version, priority in apis
    ]
    namespace: Manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return [namespace, service, endpoints, *api_services]


def pods_metric(kubectl: Kubectl, namespace: str, selector: str) -> dict[str, float]:
    """ferryman_inflight_requests per pod as the HPA controller reads it (the custom metrics API)."""
    path = f"/apis/{GROUP}/v1beta2/namespaces/{namespace}/pods/*/ferryman_inflight_requests"
    listing: dict[str, Any] = json.loads(kubectl.run("get", "--raw", f"{path}?labelSelector={selector}"))
    return {item["describedObject"]["name"]: _quantity(item["value"]) for item in listing.get("items", [])}


def _quantity(text: str) -> float:
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)
