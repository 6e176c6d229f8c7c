"""The one place that builds a connection to the Kubernetes API server."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from ferryman.config import Settings


def in_cluster_server(environ: Mapping[str, str]) -> str:
    """The API server a pod calls: KUBERNETES_SERVICE_HOST/PORT, which the kubelet sets in every
    container and client-go and the kubernetes client's in-cluster config read; the Service's DNS name
    only when they are absent. (Kopf's own service-account login always uses the name, which needs
    cluster DNS: the local cluster has none, and the env is what the rest of the operator uses.)"""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return "https://kubernetes.default.svc"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


@functools.cache
def api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else from KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        # The client library reads KUBECONFIG once at import; read it at call time like kubectl does.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    # Kopf runs synchronous handlers in a thread pool; give each worker a pooled connection.
    configuration.connection_pool_maxsize = 64
    # No silent retries inside one call: the timeout means what it says, and the handler's retry (a
    # TemporaryError) is the one retry policy.
    configuration.retries = 0
    return client.ApiClient(configuration)


@functools.cache
def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every request: without it a silent API server blocks a worker forever."""
    settings = Settings()
    return settings.api_connect_timeout_seconds, settings.api_timeout_seconds
