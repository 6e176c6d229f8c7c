"""Where the operator, running in a pod, sends its API calls (pure)."""

from __future__ import annotations

import pytest

from ferryman.k8s.client import in_cluster_server

pytestmark = pytest.mark.unit


def test_a_pod_calls_the_address_the_kubelet_put_in_its_env() -> None:
    """As client-go does; the local cluster has no DNS for kubernetes.default.svc."""
    env = {"KUBERNETES_SERVICE_HOST": "198.19.1.1", "KUBERNETES_SERVICE_PORT": "32764"}
    assert in_cluster_server(env) == "https://198.19.1.1:32764"


def test_an_ipv6_service_address_is_bracketed() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(env) == "https://[fd00::1]:443"


@pytest.mark.parametrize(
    "env", [{}, {"KUBERNETES_SERVICE_HOST": "198.19.1.1"}, {"KUBERNETES_SERVICE_PORT": "443"}]
)
def test_without_the_env_the_service_name_is_used(env: dict[str, str]) -> None:
    assert in_cluster_server(env) == "https://kubernetes.default.svc"
