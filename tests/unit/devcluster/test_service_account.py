"""What the pod runner gives a container for its ServiceAccount, as a kubelet does (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.devcluster.runner.podspec import PodSpecError, container_env
from ferryman.devcluster.runner.service_account import (
    IssuedToken,
    TokenSource,
    api_server_env,
    api_server_port,
    projected_content,
    projected_volumes,
)

pytestmark = pytest.mark.unit

SECRET_TOKEN = "eyJhbGciOi.secret-token-value"
CA = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
ISSUED_AT = 1_000_000.0


def kube_api_access(expiration: int = 3607) -> dict[str, Any]:
    """The volume the API server's ServiceAccount admission plugin adds (kube v1.36)."""
    return {
        "name": "kube-api-access-x7k2p",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": expiration, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def operator_pod(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "ferryman-6d9f-abcde", "namespace": "team-a", "uid": "u-1"},
        "spec": {
            "serviceAccountName": "ferryman",
            "containers": [{"name": "operator"}],
            "volumes": list(volumes),
        },
    }


class Issuer:
    """Records what was asked; answers a token valid for the asked lifetime."""

    def __init__(self) -> None:
        self.asked: list[TokenSource] = []

    def __call__(self, source: TokenSource) -> IssuedToken:
        self.asked.append(source)
        return IssuedToken(SECRET_TOKEN, ISSUED_AT, ISSUED_AT + source.expiration_seconds)


def config_maps(kind: str, name: str, key: str, optional: bool) -> str | None:
    values = {("configMap", "kube-root-ca.crt", "ca.crt"): CA}
    if (kind, name, key) not in values and optional:
        return None
    return values[(kind, name, key)]


def test_the_default_token_volume_holds_the_bound_token_the_cluster_ca_and_the_namespace() -> None:
    pod = operator_pod(kube_api_access())
    issuer = Issuer()
    content = projected_content(pod, projected_volumes(pod)["kube-api-access-x7k2p"], issuer, config_maps)
    assert content.files == {"token": SECRET_TOKEN, "ca.crt": CA, "namespace": "team-a"}
    assert issuer.asked == [TokenSource("token", None, 3607)]  # no audience: the API server's own


def test_the_token_is_renewed_at_80_percent_of_its_lifetime_or_after_a_day() -> None:
    pod = operator_pod(kube_api_access())
    hour = projected_content(pod, projected_volumes(pod)["kube-api-access-x7k2p"], Issuer(), config_maps)
    assert hour.refresh_at == pytest.approx(ISSUED_AT + 0.8 * 3607)
    long_lived = operator_pod(kube_api_access(expiration=7 * 24 * 3600))
    week = projected_content(
        long_lived, projected_volumes(long_lived)["kube-api-access-x7k2p"], Issuer(), config_maps
    )
    assert week.refresh_at == ISSUED_AT + 24 * 3600


def test_the_token_never_appears_in_a_repr() -> None:
    pod = operator_pod(kube_api_access())
    content = projected_content(pod, projected_volumes(pod)["kube-api-access-x7k2p"], Issuer(), config_maps)
    assert SECRET_TOKEN not in repr(content)
    assert SECRET_TOKEN not in repr(IssuedToken(SECRET_TOKEN, 0.0, 1.0))


def test_a_pod_that_opted_out_gets_no_token_volume() -> None:
    """automountServiceAccountToken: false on the pod or its ServiceAccount: admission adds no volume."""
    assert projected_volumes(operator_pod({"name": "tmp", "emptyDir": {}})) == {}


def test_an_audience_and_a_missing_optional_config_map_are_honoured() -> None:
    volume = {
        "name": "vault",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"audience": "vault", "path": "vault-token"}},
                {"configMap": {"name": "absent", "optional": True, "items": [{"key": "x"}]}},
            ]
        },
    }
    pod = operator_pod(volume)
    issuer = Issuer()
    content = projected_content(pod, projected_volumes(pod)["vault"], issuer, config_maps)
    assert content.files == {"vault-token": SECRET_TOKEN}
    assert issuer.asked == [TokenSource("vault-token", "vault", 3600)]


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ({"clusterTrustBundle": {"path": "b"}}, "clusterTrustBundle"),
        ({"configMap": {"name": "settings"}}, "items"),
        (
            {"downwardAPI": {"items": [{"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}}]}},
            "fieldRef",
        ),
    ],
)
def test_sources_the_runner_cannot_make_are_refused_with_the_reason(
    source: dict[str, Any], named: str
) -> None:
    pod = operator_pod({"name": "v", "projected": {"sources": [source]}})
    with pytest.raises(PodSpecError, match=named):
        projected_content(pod, projected_volumes(pod)["v"], Issuer(), config_maps)


def test_containers_get_the_api_server_at_the_host_address_and_may_override_it() -> None:
    api = api_server_env("198.19.1.1", 32764)
    assert api == {
        "KUBERNETES_SERVICE_HOST": "198.19.1.1",
        "KUBERNETES_SERVICE_PORT": "32764",
        "KUBERNETES_SERVICE_PORT_HTTPS": "32764",
    }
    container = {"name": "operator", "env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}]}
    env = container_env(operator_pod(), container, api, config_maps)
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("198.19.1.1", "6443")


# Documentation addresses (RFC 5737): outside both allowed ranges, and never dialled (a pure check).
@pytest.mark.parametrize("host", ["203.0.113.10", "192.0.2.1", "198.51.100.7"])
def test_an_api_address_outside_the_dev_cluster_ranges_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="outside"):
        api_server_env(host, 443)


def test_the_api_port_comes_from_the_runner_kubeconfig() -> None:
    kubeconfig = """
apiVersion: v1
clusters:
- cluster: {certificate-authority: /pki/ca.crt, server: "https://127.0.0.1:32764"}
  name: kwok-ferryman
contexts:
- context: {cluster: kwok-ferryman, user: admin}
  name: kwok-ferryman
current-context: kwok-ferryman
users: []
"""
    assert api_server_port(kubeconfig) == 32764
