"""The one place that builds a connection to the Kubernetes API server."""

from __future__ import annotations

import functools
import os

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from ferryman.config import Settings


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
