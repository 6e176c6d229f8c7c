"""A real Gateway API data plane for the e2e tier: Traefik, out of cluster, watching the local API server.

`start_gateway(traefik_binary, kubectl, gateway_api_crds, traefik_crds, workdir)` installs the Gateway API
standard CRDs and Traefik's CRDs, starts Traefik (providers kubernetesGateway + kubernetesCRD) with its
`web` entryPoint on 127.0.0.1:<free port>, creates GatewayClass `ferryman-traefik-<session>` and Gateway
`ferryman-e2e/ferryman-<session>` whose listener port is that entryPoint's, waits until Traefik reports
the Gateway Accepted and Programmed, and returns a `Gateway`: `base_url` for clients, `parent_ref` for
routes, and `route_weights()` for the weights Traefik has in force."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from ferryman_testing.kube_cli import Kubectl, Manifest, install_crds
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.servers import free_port, stop_process

GATEWAY_NAMESPACE = "ferryman-e2e"
# Each session gets its own GatewayClass and Gateway (names end in the session id), and its Traefik
# watches only GatewayClasses with its session label: routes of another session, or left over from an
# earlier one, never reach this session's data plane.
SESSION_LABEL = "ferryman.dev/e2e-session"
CONTROLLER_NAME = "traefik.io/gateway-controller"
# Model latency is milliseconds: Traefik's default buckets (0.1 s ... 10 s) cannot tell 5 ms from 50 ms.
LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]


def static_config(
    web_port: int, api_port: int, session: str, error_log: Path, throttle: str = "200ms"
) -> dict[str, Any]:
    """Traefik's static configuration; every listener on loopback, nothing phones home. Answers of 5xx
    are written to `error_log` (JSON lines): which backend, how long, why, to explain a failed request."""
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "web": {"address": f"127.0.0.1:{web_port}"},
            # `traefik` is the entryPoint of the API, ping and metrics; left undefined it would bind :8080.
            "traefik": {"address": f"127.0.0.1:{api_port}"},
        },
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        "metrics": {
            "prometheus": {
                "entryPoint": "traefik",
                "buckets": LATENCY_BUCKETS,
                "addServicesLabels": True,
                "addRoutersLabels": True,
            }
        },
        "providers": {
            "providersThrottleDuration": throttle,
            "kubernetesGateway": {"labelSelector": f"{SESSION_LABEL}={session}"},
            # Legacy names (<namespace>-<name>@kubernetescrd), said explicitly to silence a start-up warning.
            "kubernetesCRD": {"safeNaming": False},
        },
        "log": {"level": "INFO", "noColor": True},
        "accessLog": {
            "filePath": str(error_log),
            "format": "json",
            "filters": {"statusCodes": ["500-599"]},
            "fields": {"headers": {"defaultMode": "drop"}},
        },
    }


def gateway_manifests(listener_port: int, session: str) -> list[Manifest]:
    """GatewayClass + Gateway; routes from every namespace may attach (tests use their own namespaces)."""
    gateway_class = f"ferryman-traefik-{session}"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GATEWAY_NAMESPACE}},
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": gateway_class, "labels": {SESSION_LABEL: session}},
            "spec": {"controllerName": CONTROLLER_NAME},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": f"ferryman-{session}", "namespace": GATEWAY_NAMESPACE},
            "spec": {
                "gatewayClassName": gateway_class,
                "listeners": [
                    {
                        "name": "web",
                        "protocol": "HTTP",
                        "port": listener_port,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


def has_conditions(obj: Manifest, *types: str) -> bool:
    """True when every condition type is True and observed at the object's current generation."""
    generation = obj["metadata"].get("generation")
    conditions = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}
    return all(
        t in conditions
        and conditions[t]["status"] == "True"
        and conditions[t].get("observedGeneration", generation) == generation
        for t in types
    )


@dataclass
class TraefikServer:
    process: subprocess.Popen[bytes]
    web_port: int
    api_port: int
    log_path: Path

    @classmethod
    def start(cls, binary: Path, kubeconfig: Path, workdir: Path, session: str) -> TraefikServer:
        workdir.mkdir(parents=True, exist_ok=True)
        web_port, api_port = free_port(), free_port()
        config_path = workdir / "traefik.yml"
        config_path.write_text(
            yaml.safe_dump(
                static_config(web_port, api_port, session, workdir / "errors.log"), sort_keys=False
            )
        )
        # Out of cluster: without KUBERNETES_SERVICE_HOST/PORT Traefik's client reads KUBECONFIG.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
        env["KUBECONFIG"] = str(kubeconfig)
        log_path = workdir / "traefik.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [str(binary), f"--configFile={config_path}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        server = cls(process, web_port, api_port, log_path)
        try:
            wait_for(f"Traefik ping on port {api_port} (log {log_path})", server.is_up, timeout=30, every=0.2)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def metrics_target(self) -> str:
        """host:port where Traefik serves /metrics (for a Prometheus static job)."""
        return f"127.0.0.1:{self.api_port}"

    def is_up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Traefik exited with {self.process.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.api_url}/ping", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def config_reloads(self) -> int:
        """How many dynamic configurations Traefik has applied (its `traefik_config_reloads_total`).

        Each one rebuilds every router and service handler from scratch (see docs/e2e.md).
        """
        with urllib.request.urlopen(f"{self.api_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        match = re.search(r"^traefik_config_reloads_total (\S+)$", text, re.MULTILINE)
        if match is None:
            raise AssertionError(f"no traefik_config_reloads_total in Traefik's metrics ({self.api_url})")
        return int(float(match.group(1)))

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.api_url}{path}", timeout=5) as response:
            return json.load(response)

    def api_list(self, path: str, search: str = "") -> list[dict[str, Any]]:
        """Every item of a list endpoint (e.g. /api/http/services), following Traefik's pagination.

        Traefik answers 100 items a page by default: a busy cluster's routes do not fit on the first.
        `search` keeps items whose name contains it.
        """
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"per_page": 500, "page": page, **({"search": search} if search else {})}
            with urllib.request.urlopen(
                f"{self.api_url}{path}?{urllib.parse.urlencode(params)}", timeout=5
            ) as response:
                items.extend(json.load(response))
                next_page = int(response.headers.get("X-Next-Page", "1"))
            if next_page <= page:  # the last page names page 1 as the next one
                break
            page = next_page
        return items

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class Gateway:
    """The running data plane: clients send to `base_url`; routes attach with `parent_ref`."""

    traefik: TraefikServer
    kubectl: Kubectl
    session: str
    namespace: str = GATEWAY_NAMESPACE

    @property
    def name(self) -> str:
        return f"ferryman-{self.session}"

    @property
    def gateway_class(self) -> str:
        return f"ferryman-traefik-{self.session}"

    def close(self) -> None:
        """Stop Traefik and delete this session's Gateway and GatewayClass."""
        self.traefik.stop()
        self.kubectl.delete("gateway", self.name, self.namespace)
        self.kubectl.delete("gatewayclass", self.gateway_class)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.traefik.web_port}"

    @property
    def parent_ref(self) -> dict[str, str]:
        """What an HTTPRoute puts in spec.parentRefs to attach to this Gateway."""
        return {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "namespace": self.namespace,
            "name": self.name,
        }

    def count_responses(
        self,
        path: str,
        count: int,
        headers: dict[str, str] | None = None,
        classify: Callable[[httpx.Response], str] | None = None,
    ) -> collections.Counter[str]:
        """Send `count` sequential GETs through the Gateway and count them by `classify(response)`.

        The default key is the body of a 200 (the echo app answers its name) or "HTTP <code>".
        """
        key = classify or (lambda r: r.text if r.status_code == 200 else f"HTTP {r.status_code}")
        seen: collections.Counter[str] = collections.Counter()
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            for _ in range(count):
                seen[key(client.get(path, headers=headers))] += 1
        return seen

    def route_weights(self, namespace: str, route: str) -> dict[int, dict[str, int]]:
        """The weights Traefik has in force for an HTTPRoute: {rule index: {backend name: weight}}.

        HTTPRoute status is written before a change is live; this reads Traefik's own runtime config.
        A rule whose backend is not a plain Service (e.g. a TraefikService) shows Traefik's service name.
        Traefik makes one router per match of a rule; they share the rule's backends and weights.
        """
        prefix = _normalize(f"httproute-{namespace}-{route}-gw-{self.namespace}-{self.name}-ep-web") + "-"
        rule_pattern = re.compile(re.escape(prefix) + r"(\d+)-[0-9a-f]+-wrr@kubernetesgateway$")
        backend_pattern = re.compile(r"-svc-" + re.escape(_normalize(namespace)) + r"-(.+)-\d+$")
        weights: dict[int, dict[str, int]] = {}
        for service in self.traefik.api_list("/api/http/services", search=prefix):
            match = rule_pattern.match(service["name"])
            if not match or "weighted" not in service:
                continue
            rule: dict[str, int] = {}
            for entry in service["weighted"].get("services", []):
                name = entry["name"].split("@")[0]
                backend = backend_pattern.search(name)
                rule[backend.group(1) if backend else name] = int(entry.get("weight", 1))
            weights[int(match.group(1))] = rule
        return weights

    def wait_for_weights(
        self, namespace: str, route: str, expected: dict[str, int], rule: int = 0, timeout: float = 20.0
    ) -> dict[str, int]:
        """Wait until Traefik routes rule `rule` of the route with exactly `expected`; returns them."""

        def in_force() -> dict[str, int]:
            weights = self.route_weights(namespace, route)
            if weights.get(rule) != expected:
                raise NotYet(f"in force: {weights}")
            return expected

        return wait_for(f"weights {expected} on {namespace}/{route}", in_force, timeout, every=0.2)

    def wait_route_accepted(
        self,
        namespace: str,
        route: str,
        conditions: tuple[str, ...] = ("Accepted", "ResolvedRefs"),
        timeout: float = 20.0,
    ) -> None:
        """Wait until these conditions are True on the route for this Gateway, at its generation."""

        def accepted() -> bool:
            obj = self.kubectl.get("httproute", route, namespace)
            for parent in obj.get("status", {}).get("parents", []):
                if parent.get("parentRef", {}).get("name") == self.name:
                    as_object = {
                        "metadata": obj["metadata"],
                        "status": {"conditions": parent.get("conditions", [])},
                    }
                    return has_conditions(as_object, *conditions)
            return False

        wait_for(f"HTTPRoute {namespace}/{route} {'+'.join(conditions)}", accepted, timeout, every=0.2)


def _normalize(name: str) -> str:
    """Traefik's provider.Normalize: runs of non-alphanumerics become one '-'."""
    return "-".join(part for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def start_gateway(
    traefik_binary: Path,
    kubectl: Kubectl,
    gateway_api_crds: Path,
    traefik_crds: Path,
    workdir: Path,
    timeout: float = 60.0,
) -> Gateway:
    # Every CRD the providers watch must exist, or the Gateway provider hangs without a word.
    install_crds(kubectl, *sorted(gateway_api_crds.glob("*.yaml")), traefik_crds)
    # A letter first: an all-digit or digits-e-digits id would be read as a number by the YAML decoder.
    session = "s" + uuid.uuid4().hex[:6]
    traefik = TraefikServer.start(traefik_binary, kubectl.kubeconfig, workdir, session)
    gateway = Gateway(traefik, kubectl, session)
    try:
        kubectl.apply(gateway_manifests(traefik.web_port, session))
        wait_for(
            f"Gateway {gateway.namespace}/{gateway.name} Programmed (Traefik log {traefik.log_path})",
            lambda: has_conditions(
                kubectl.get("gateway", gateway.name, gateway.namespace), "Accepted", "Programmed"
            ),
            timeout,
            every=0.2,
        )
    except BaseException:
        gateway.close()
        raise
    return gateway
