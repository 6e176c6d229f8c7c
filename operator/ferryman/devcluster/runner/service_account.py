"""Pure: what the kubelet gives a container so that it can call the API server as its ServiceAccount.

The API server's ServiceAccount admission plugin already adds, to every pod whose pod and ServiceAccount
do not set `automountServiceAccountToken: false`, a projected volume `kube-api-access-<x>` (a bound
token, the `kube-root-ca.crt` ConfigMap's `ca.crt`, the namespace) mounted read-only at
/var/run/secrets/kubernetes.io/serviceaccount. The kubelet's part, done here: make that volume's files
(a TokenRequest bound to the pod, renewed before it expires) and set KUBERNETES_SERVICE_HOST/PORT.
The token is only ever a file's content: never in argv, env, logs or a repr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ferryman.devcluster.runner.podspec import KeyLookup, Pod, PodSpecError, field_value

TOKEN_REFRESH_FRACTION = 0.8  # the kubelet renews a projected token at 80% of its lifetime...
TOKEN_MAX_AGE_SECONDS = 24 * 3600  # ...or after 24 hours, whichever comes first
DEFAULT_TOKEN_SECONDS = 3600  # serviceAccountToken.expirationSeconds when absent (as in the API)
# Pod traffic may only go to the dev cluster's addresses (docs/local-cluster.md#addresses).
_ALLOWED_API_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("198.18.0.0/15"))


@dataclass(frozen=True)
class TokenSource:
    """One serviceAccountToken source of a projected volume."""

    path: str
    audience: str | None
    expiration_seconds: int


@dataclass(frozen=True)
class IssuedToken:
    """A TokenRequest's answer; `token` is kept out of repr so no log line or traceback shows it."""

    token: str = field(repr=False)
    issued_at: float  # epoch seconds, when it was requested
    expires_at: float  # epoch seconds, the API server's expirationTimestamp


TokenIssuer = Callable[[TokenSource], IssuedToken]


@dataclass(frozen=True)
class ProjectedContent:
    """The files of one projected volume (relative path -> text), and when to make them again."""

    files: dict[str, str] = field(repr=False)
    refresh_at: float | None  # epoch seconds; None: nothing in it expires


def refresh_time(issued: IssuedToken) -> float:
    lifetime = max(0.0, issued.expires_at - issued.issued_at)
    return issued.issued_at + min(lifetime * TOKEN_REFRESH_FRACTION, TOKEN_MAX_AGE_SECONDS)


def projected_volumes(pod: Pod) -> dict[str, dict[str, Any]]:
    """The pod's projected volumes by name."""
    return {v["name"]: v["projected"] for v in pod["spec"].get("volumes", []) if "projected" in v}


def projected_content(
    pod: Pod, projected: dict[str, Any], issue_token: TokenIssuer, lookup: KeyLookup
) -> ProjectedContent:
    """What the kubelet writes into a projected volume: tokens, ConfigMap/Secret items, downward API."""
    files: dict[str, str] = {}
    refresh_at: float | None = None
    for source in projected.get("sources") or []:
        if "serviceAccountToken" in source:
            spec = source["serviceAccountToken"]
            issued = issue_token(
                TokenSource(
                    spec["path"],
                    spec.get("audience") or None,
                    int(spec.get("expirationSeconds", DEFAULT_TOKEN_SECONDS)),
                )
            )
            files[spec["path"]] = issued.token
            due = refresh_time(issued)
            refresh_at = due if refresh_at is None else min(refresh_at, due)
        elif "configMap" in source or "secret" in source:
            kind = "configMap" if "configMap" in source else "secret"
            files.update(_key_items(kind, source[kind], lookup))
        elif "downwardAPI" in source:
            files.update(_downward_items(pod, source["downwardAPI"]))
        else:
            raise PodSpecError(
                f"projected volume source {sorted(source)} is not supported by the dev cluster's pod runner "
                "(use serviceAccountToken, configMap, secret or downwardAPI)"
            )
    return ProjectedContent(files, refresh_at)


def _key_items(kind: str, ref: dict[str, Any], lookup: KeyLookup) -> dict[str, str]:
    if not ref.get("items"):
        # The runner reads single keys; every key of the object would need the object's key list.
        raise PodSpecError(f"projected {kind} {ref.get('name')!r}: list the keys under items")
    files = {}
    for item in ref["items"]:
        value = lookup(kind, ref["name"], item["key"], bool(ref.get("optional", False)))
        if value is not None:
            files[item.get("path") or item["key"]] = value
    return files


def _downward_items(pod: Pod, downward: dict[str, Any]) -> dict[str, str]:
    files = {}
    for item in downward.get("items") or []:
        if "fieldRef" not in item:
            raise PodSpecError(f"projected downwardAPI item {item.get('path')!r}: only fieldRef is supported")
        files[item["path"]] = field_value(pod, item["fieldRef"]["fieldPath"])
    return files


def api_server_env(host: str, port: int) -> dict[str, str]:
    """The in-cluster API address every container gets (client libraries' in-cluster config reads it).

    On a real node it is the `kubernetes` Service's ClusterIP; here that Service has no endpoints, so it
    is the API server itself at an address reachable from the node's network namespace.
    """
    address = ipaddress.ip_address(host)
    if not any(address in network for network in _ALLOWED_API_NETWORKS):
        raise ValueError(f"API server address {host} is outside 127.0.0.0/8 and 198.18.0.0/15")
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
    }


def api_server_port(kubeconfig_text: str) -> int:
    """The secure port of the current context's server in the runner's kubeconfig (https://127.0.0.1:P)."""
    config = yaml.safe_load(kubeconfig_text)
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    server: str = cluster["server"]
    port = server.rsplit(":", 1)[-1].rstrip("/")
    if not port.isdigit():
        raise ValueError(f"kubeconfig server {server!r} has no port")
    return int(port)
