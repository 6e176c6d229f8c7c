"""A real Prometheus server for the e2e tier, discovering pods through the local API server.

`PrometheusServer.start(binary, kubeconfig, workdir)` runs Prometheus on 127.0.0.1:<free port> with a
generated config (`scrape_config`): Kubernetes service discovery (role pod, `kubeconfig_file`), keeping
pods annotated prometheus.io/scrape=true, scraping <pod IP>:<prometheus.io/port><prometheus.io/path>
every second, and copying namespace, pod and the ferryman.dev/* labels into target labels:

    namespace, pod, model_deployment, track, model_version

`query(promql)` runs an instant query through the HTTP API; `wait_for_query(...)` polls one until it holds.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.servers import free_port, stop_process

POD_JOB = "kubernetes-pods"

# __meta_kubernetes_pod_label_<name> with every character outside [a-zA-Z0-9_] replaced by "_".
_FERRYMAN_LABELS = {
    "model_deployment": "ferryman_dev_model_deployment",
    "track": "ferryman_dev_track",
    "model_version": "ferryman_dev_model_version",
}


def pod_scrape_job(kubeconfig: Path, interval: str = "1s") -> dict[str, Any]:
    """The scrape job for annotated pods (the prometheus.io/* convention)."""
    relabel: list[dict[str, Any]] = [
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "regex": "true",
            "action": "keep",
        },
        # A pod without an IP (pending) or already finished has nothing to scrape.
        {"source_labels": ["__meta_kubernetes_pod_ip"], "regex": ".+", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"},
        {
            "source_labels": [
                "__meta_kubernetes_pod_ip",
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
            ],
            "regex": "(.+);([0-9]+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    for target, meta in _FERRYMAN_LABELS.items():
        relabel.append({"source_labels": [f"__meta_kubernetes_pod_label_{meta}"], "target_label": target})
    return {
        "job_name": POD_JOB,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "kubernetes_sd_configs": [{"role": "pod", "kubeconfig_file": str(kubeconfig)}],
        "relabel_configs": relabel,
    }


def scrape_config(
    kubeconfig: Path, interval: str = "1s", static_jobs: dict[str, list[str]] | None = None
) -> str:
    """The whole prometheus.yml: the pod job plus optional static jobs (name -> host:port targets)."""
    jobs = [pod_scrape_job(kubeconfig, interval)]
    for name, targets in (static_jobs or {}).items():
        jobs.append(
            {
                "job_name": name,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": targets}],
            }
        )
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusQueryError(RuntimeError):
    """The HTTP API answered with an error (bad PromQL, server not ready)."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant-vector result."""

    labels: dict[str, str]
    value: float


@dataclass
class PrometheusServer:
    """A running Prometheus; stop() ends it. Build it with `PrometheusServer.start`."""

    process: subprocess.Popen[bytes]
    port: int
    config_path: Path
    kubeconfig: Path
    interval: str
    log_path: Path
    static_jobs: dict[str, list[str]] = field(default_factory=dict)
    pod_host: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_for_pods(self) -> str:
        """The same server where pods reach it (the cluster's host address; a pod cannot see 127.0.0.1)."""
        if self.pod_host is None:
            raise RuntimeError("Prometheus was started without pod_host: pods cannot reach it")
        return f"http://{self.pod_host}:{self.port}"

    @classmethod
    def start(
        cls,
        binary: Path,
        kubeconfig: Path,
        workdir: Path,
        interval: str = "1s",
        pod_host: str | None = None,
    ) -> PrometheusServer:
        """`pod_host`: also listen there (the cluster's host address), for operators running as pods."""
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "prometheus.yml"
        config_path.write_text(scrape_config(kubeconfig, interval))
        port = free_port()
        log_path = workdir / "prometheus.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    *([f"--web.listen-address={pod_host}:{port}"] if pod_host else []),
                    "--web.enable-lifecycle",
                    # A deleted pod's series must vanish quickly from instant queries.
                    "--query.lookback-delta=30s",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(process, port, config_path, kubeconfig, interval, log_path, pod_host=pod_host)
        try:
            wait_for(
                f"Prometheus ready on {server.url} (log {log_path})", server.is_ready, timeout=30, every=0.2
            )
        except BaseException:
            server.stop()
            raise
        return server

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Prometheus exited with {self.process.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)

    def add_static_job(self, name: str, targets: list[str]) -> None:
        """Also scrape fixed host:port targets (e.g. Traefik's metrics), then reload the config."""
        self.static_jobs[name] = targets
        self.config_path.write_text(scrape_config(self.kubeconfig, self.interval, self.static_jobs))
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise PrometheusQueryError(f"reload answered {response.status}")

    def api_get(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data` or raises PrometheusQueryError with the server's message."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[Sample]:
        """Instant query; returns the vector (a scalar comes back as one sample without labels)."""
        data = self.api_get("query", query=promql)
        if data["resultType"] == "vector":
            return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        raise PrometheusQueryError(f"query {promql!r} gave a {data['resultType']}, expected a vector")

    def wait_for_query(
        self, promql: str, condition: Callable[[list[Sample]], bool], timeout: float = 30.0
    ) -> list[Sample]:
        """Poll an instant query until `condition(result)` holds; returns that result."""

        def holds() -> tuple[list[Sample]]:
            result = self.query(promql)
            if not condition(result):
                raise NotYet(result)
            return (result,)  # truthy even when the awaited result is an empty vector

        (result,) = wait_for(f"{promql!r} to hold", holds, timeout, every=0.2)
        return result

    def active_targets(self, job: str = POD_JOB) -> list[dict[str, Any]]:
        """The scrape targets Prometheus has now, with their labels, health and last error."""
        data = self.api_get("targets", state="active")
        return [t for t in data["activeTargets"] if t["labels"].get("job") == job]
