"""Shared pieces of the rollout scenarios: manifests, status reads, and waiting on phases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ferryman_testing import model_deployments
from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.load import infer_body
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import status_of
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.traefik import Gateway

MODEL = "fraud"  # the ModelDeployment's name, and the model name clients call (file:// URIs)


def host_of(namespace: str) -> dict[str, str]:
    """The Host header of a test's route. Every test's HTTPRoute matches only its own hostname: routes
    with equal matches on one Gateway resolve to the oldest, which may be a finished test's."""
    return {"Host": f"{namespace}.ferryman.test"}


def model_manifest(
    namespace: str,
    gateway: Gateway,
    uri: str,
    strategy: dict[str, Any] | None,
    serving: dict[str, Any] | None = None,
    **gateway_fields: Any,
) -> dict[str, Any]:
    """The test's ModelDeployment: `uri` behind the session's Gateway, on the test's own hostname.
    `serving` replaces the fixed replica count (e.g. {"autoscaling": {...}})."""
    return model_deployment(
        MODEL,
        namespace,
        uri,
        replicas=None if serving else 1,
        serving=serving,
        strategy=strategy,
        parent_ref=gateway.parent_ref,
        hostname=host_of(namespace)["Host"],
        gateway=gateway_fields,
    )


def apply_model(
    kubectl: Kubectl,
    namespace: str,
    gateway: Gateway,
    uri: str,
    strategy: dict[str, Any] | None,
    serving: dict[str, Any] | None = None,
    **gateway_fields: Any,
) -> None:
    """Apply the test's ModelDeployment (model_manifest)."""
    kubectl.apply([model_manifest(namespace, gateway, uri, strategy, serving, **gateway_fields)])


def canary(steps: list[int], interval: str = "3s", **analysis: Any) -> dict[str, Any]:
    """A fast canary for tests: short interval, few requests needed per window."""
    defaults: dict[str, Any] = {"minRequests": 10, "failureLimit": 2, "maxLatencyP99": "50ms"}
    return {
        "canary": {
            "steps": [{"weight": w} for w in steps],
            "interval": interval,
            "progressDeadline": "60s",
            "analysis": {**defaults, **analysis},
        }
    }


def wait_for_phase(kubectl: Kubectl, namespace: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
    """The status once its phase is one of `phases`; a timeout shows the phase and message last seen."""

    def reached() -> dict[str, Any]:
        status = status_of(kubectl, namespace)
        if status.get("phase") not in phases:
            raise NotYet(f"{status.get('phase')}: {status.get('message')}")
        return status

    return wait_for(f"phase {'|'.join(phases)}", reached, timeout=timeout)


def wait_for_rollout_end(kubectl: Kubectl, namespace: str, uri: str, timeout: float = 150) -> dict[str, Any]:
    """The rollout of uri ended: promoted (now stable) or rolled back / degraded (the failed canary)."""

    def ended() -> dict[str, Any]:
        status = status_of(kubectl, namespace)
        phase = status.get("phase")
        promoted = phase == "Succeeded" and status.get("stableUri") == uri
        failed = phase in ("RolledBack", "Degraded") and status.get("canaryUri") == uri
        if not (promoted or failed):
            raise NotYet(f"{phase}: {status.get('message')}")
        return status

    return wait_for(f"the rollout of {uri} to end", ended, timeout=timeout)


def wait_until_serving(
    kubectl: Kubectl, namespace: str, uri: str, gateway: Gateway, timeout: float = 120
) -> dict[str, Any]:
    """Stable Ready with `uri` in status, and answering through the Gateway. A new stable is Ready in its
    status a moment before Traefik has its endpoint (503 "no available server" meanwhile): users
    arrive after that."""
    status = model_deployments.wait_until_serving(kubectl, namespace, name=MODEL, uri=uri, timeout=timeout)
    wait_for("stable answering through the Gateway", lambda: answered_through(gateway, namespace), timeout=30)
    return status


def answered_through(gateway: Gateway, namespace: str) -> bool:
    """One inference through the Gateway answered 200."""
    with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
        answer = client.post(f"/v2/models/{MODEL}/infer", json=infer_body(), headers=host_of(namespace))
    return answer.status_code == 200


def events(kubectl: Kubectl, namespace: str, reason: str) -> list[str]:
    listing = kubectl.run("get", "events", "-n", namespace, "--field-selector", f"reason={reason}",
                          "-o", "jsonpath={range .items[*]}{.message}{'\\n'}{end}")  # fmt: skip
    return [line for line in listing.splitlines() if line]


def serving_processes(kubectl: Kubectl, namespace: str, track: str, uri: str) -> list[int]:
    """PIDs of this namespace's serving processes of one track (the local cluster runs each pod as a local
    process). Matched by pod name and model URI: an earlier test's pods may still be running the same URI."""
    listing = kubectl.run("get", "pods", "-n", namespace, "-l", f"ferryman.dev/track={track}",
                          "-o", "jsonpath={.items[*].metadata.name}")  # fmt: skip
    hostnames = {f"HOSTNAME={name}".encode() for name in listing.split()}
    wanted_uri = f"FERRYMAN_MODEL_URI={uri}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted_uri in environ and hostnames & environ:
            pids.append(int(entry.name))
    return pids
