"""The one place that builds a connection to the Kubernetes API server.

The operator logs in the way Kopf does (a pod's service account, else KUBECONFIG) and sends its own
requests through one urllib3 pool. It does not use the `kubernetes` client library: that package's
import alone costs about 23 MB of the operator's memory (thousands of generated model classes), and
the operator reads and writes plain JSON dicts.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import kopf
import urllib3

from ferryman.config import Settings
from ferryman.k8s.exec_credentials import current_user, exec_login

POOL_SIZE = 64
"""Kopf runs synchronous handlers in a thread pool: a pooled connection for each worker."""


def in_cluster_server(environ: Mapping[str, str]) -> str:
    """The API server a pod calls: KUBERNETES_SERVICE_HOST/PORT, which the kubelet sets in every
    container and client-go reads; the Service's DNS name only when they are absent. (Kopf's own
    service-account login always uses the name, which needs cluster DNS: the local cluster has none,
    and the env is what the rest of the operator uses.)"""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return "https://kubernetes.default.svc"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def log_in(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo | None:
    """In a pod: the service account's mounted token, at the address the kubelet gives in the env;
    elsewhere: KUBECONFIG (its current context, with its exec plugin if it has one). Kopf's watches and
    the handlers' requests both use it. Kopf logs in again on a 401, so a token the kubelet renewed in
    the file is picked up."""
    account: kopf.ConnectionInfo | None = kopf.login_with_service_account(settings=settings)
    if account is not None:
        return dataclasses.replace(account, server=in_cluster_server(os.environ))
    info: kopf.ConnectionInfo | None = kopf.login_with_kubeconfig(settings=settings)
    return exec_login(info, current_user(os.environ)) if info is not None else None


@dataclasses.dataclass(frozen=True)
class ApiConnection:
    """Where the API server is, how to reach it (TLS, client certificate, proxy) and who we are."""

    server: str
    pool: urllib3.PoolManager
    auth_headers: dict[str, str]

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes | None,
        headers: dict[str, str],
    ) -> urllib3.BaseHTTPResponse:
        url = self.server.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        connect, read = request_timeout()
        return self.pool.request(
            method,
            url,
            body=body,
            headers={**headers, **self.auth_headers},
            timeout=urllib3.Timeout(connect=connect, read=read),
            # No silent retries inside one call: the timeout means what it says, and the handler's
            # retry (a TemporaryError) is the one retry policy.
            retries=False,
            redirect=False,
        )


@functools.cache
def api_connection() -> ApiConnection:
    """The connection for every request the handlers make, built once per process from `log_in`."""
    info = log_in(kopf.OperatorSettings())
    if info is None or not info.server:
        raise kopf.PermanentError(
            "no Kubernetes credentials: run in a pod with a service account, or set KUBECONFIG"
        )
    options: dict[str, Any] = {"maxsize": POOL_SIZE, "block": False}
    if info.server.startswith("https:"):
        options["ssl_context"] = info.as_ssl_context()
    pool: urllib3.PoolManager = (
        urllib3.ProxyManager(info.proxy_url, **options) if info.proxy_url else urllib3.PoolManager(**options)
    )
    return ApiConnection(server=info.server, pool=pool, auth_headers=info.as_http_headers())


def forget_connection() -> None:
    """Log in again on the next request: after a 401 (the kubelet renews a pod's token in its file,
    and Kopf itself logs in again on a 401), or when a test points KUBECONFIG elsewhere."""
    api_connection.cache_clear()
    request_timeout.cache_clear()


@functools.cache
def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every request: without it a silent API server blocks a worker forever."""
    settings = Settings()
    return settings.api_connect_timeout_seconds, settings.api_timeout_seconds
