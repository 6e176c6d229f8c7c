"""Pure reading of a pod spec: environment, command line, probes, restart rules."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Pod = dict[str, Any]
Container = dict[str, Any]

# $(VAR) is expanded from earlier env entries; $$(VAR) is the escaped literal (Kubernetes semantics).
_VAR_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class PodSpecError(ValueError):
    """The pod asks for something the dev cluster cannot do; the message says what and how to fix it."""


def expand(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REFERENCE.sub(replace, text)


def field_value(pod: Pod, field_path: str) -> str:
    """The value of a downward-API fieldRef, as the kubelet resolves it."""
    metadata = pod.get("metadata", {})
    status = pod.get("status", {})
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": pod.get("spec", {}).get("nodeName"),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs", [])),
    }
    if field_path in simple:
        return simple[field_path] or ""
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", field_path)
    if keyed:
        return str(metadata.get(keyed.group(1), {}).get(keyed.group(2), ""))
    raise PodSpecError(
        f"env fieldRef.fieldPath {field_path!r} is not supported by the dev cluster's pod runner"
    )


KeyLookup = Callable[[str, str, str, bool], str | None]
"""(kind 'configMap'|'secret', object name, key, optional) -> value or None when optional and missing."""


def container_env(
    pod: Pod, container: Container, base: Mapping[str, str], lookup: KeyLookup
) -> dict[str, str]:
    """The process environment: base (PATH, HOME...), then envFrom, then env in order, with $(VAR)."""
    env = dict(base)
    env["HOSTNAME"] = pod["metadata"]["name"]
    for source in container.get("envFrom", []):
        env.update(_env_from(source, lookup))
    for entry in container.get("env", []):
        name = entry["name"]
        if "valueFrom" in entry:
            value = _value_from(pod, name, entry["valueFrom"], lookup)
            if value is None:
                continue
            env[name] = value
        else:
            env[name] = expand(entry.get("value", ""), env)
    return env


def _value_from(pod: Pod, name: str, source: dict[str, Any], lookup: KeyLookup) -> str | None:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    for kind, field in (("configMap", "configMapKeyRef"), ("secret", "secretKeyRef")):
        if field in source:
            ref = source[field]
            return lookup(kind, ref["name"], ref["key"], bool(ref.get("optional", False)))
    raise PodSpecError(f"env {name}: only value, fieldRef, configMapKeyRef and secretKeyRef are supported")


def _env_from(source: dict[str, Any], lookup: KeyLookup) -> dict[str, str]:
    # envFrom needs every key of the object: ask for the whole object through the reserved key "*".
    for kind, field in (("configMap", "configMapRef"), ("secret", "secretRef")):
        if field in source:
            ref = source[field]
            blob = lookup(kind, ref["name"], "*", bool(ref.get("optional", False)))
            pairs = dict(line.split("=", 1) for line in (blob or "").splitlines() if "=" in line)
            return {source.get("prefix", "") + k: v for k, v in pairs.items()}
    return {}


def command_line(container: Container, env: Mapping[str, str], path: str) -> list[str]:
    """command + args with $(VAR) expanded and the executable resolved against PATH."""
    command = [expand(part, env) for part in container.get("command", [])]
    args = [expand(part, env) for part in container.get("args", [])]
    if not command:
        raise PodSpecError(
            f"container {container['name']!r} has no command: the dev cluster runs commands, not images "
            "(set spec.containers[].command)"
        )
    executable = command[0] if "/" in command[0] else shutil.which(command[0], path=path)
    if executable is None:
        raise PodSpecError(
            f"container {container['name']!r}: executable {command[0]!r} not found on PATH={path}"
        )
    return [executable, *command[1:], *args]


@dataclass(frozen=True)
class Probe:
    """A readiness probe with Kubernetes defaults filled in."""

    kind: str  # httpGet | tcpSocket | exec
    port: int
    path: str
    host: str | None
    scheme: str
    headers: tuple[tuple[str, str], ...]
    command: tuple[str, ...]
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int


def resolve_port(container: Container, port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise PodSpecError(
        f"container {container['name']!r}: probe port {port!r} names no declared container port"
    )


def readiness_probe(container: Container) -> Probe | None:
    return parse_probe(container, "readinessProbe")


def liveness_probe(container: Container) -> Probe | None:
    return parse_probe(container, "livenessProbe")


def startup_probe(container: Container) -> Probe | None:
    return parse_probe(container, "startupProbe")


def parse_probe(container: Container, field: str) -> Probe | None:
    spec = container.get(field)
    if not spec:
        return None
    timing: dict[str, Any] = {
        "initial_delay": float(spec.get("initialDelaySeconds", 0)),
        "period": float(spec.get("periodSeconds", 10)),
        "timeout": float(spec.get("timeoutSeconds", 1)),
        "success_threshold": int(spec.get("successThreshold", 1)),
        "failure_threshold": int(spec.get("failureThreshold", 3)),
    }
    if "httpGet" in spec:
        get = spec["httpGet"]
        headers = tuple((h["name"], h["value"]) for h in get.get("httpHeaders", []))
        return Probe(
            "httpGet",
            resolve_port(container, get["port"]),
            get.get("path", "/"),
            get.get("host"),
            get.get("scheme", "HTTP"),
            headers,
            (),
            **timing,
        )
    if "tcpSocket" in spec:
        sock = spec["tcpSocket"]
        return Probe(
            "tcpSocket", resolve_port(container, sock["port"]), "", sock.get("host"), "", (), (), **timing
        )
    if "exec" in spec:
        return Probe("exec", 0, "", None, "", (), tuple(spec["exec"]["command"]), **timing)
    raise PodSpecError(
        f"container {container['name']!r}: {field} kind not supported (use httpGet, tcpSocket or exec)"
    )


def should_restart(restart_policy: str, exit_code: int) -> bool:
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


def restart_backoff(restarts: int) -> float:
    """Seconds before restart number `restarts`: 1 s doubling to 30 s (the kubelet: 10 s to 5 min)."""
    return float(min(30, 2 ** max(0, restarts - 1)))


def grace_period(pod: Pod) -> float:
    """How long a deleted pod's processes get between SIGTERM and SIGKILL."""
    metadata_grace = pod["metadata"].get("deletionGracePeriodSeconds")
    if metadata_grace is not None:
        return float(metadata_grace)
    return float(pod["spec"].get("terminationGracePeriodSeconds", 30))
