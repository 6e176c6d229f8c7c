"""`helm install` of charts/ferryman into the local cluster, with Pod Security `restricted` enforced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ferryman_testing.chart_release import helm_install, helm_uninstall
from ferryman_testing.cluster import DevCluster, fresh_namespace
from ferryman_testing.kube_cli import Kubectl, KubectlError
from ferryman_testing.polling import wait_for

pytestmark = pytest.mark.cluster

RELEASE = "ferryman"
OPERATOR_POD = "app.kubernetes.io/name=ferryman-operator"
RESTRICTED = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)


@pytest.fixture
def restricted_namespace(cluster: DevCluster) -> Iterator[str]:
    with fresh_namespace(cluster, prefix="chart") as name:
        cluster.kubectl.run("label", "namespace", name, *RESTRICTED)
        yield name


@pytest.fixture
def installed(cluster: DevCluster, restricted_namespace: str) -> Iterator[str]:
    """The chart with every option on, its operator watching only its own (empty) namespace, so that it
    cannot act on any other test's objects."""
    helm_install(
        cluster.kubeconfig, RELEASE, restricted_namespace, f"watchNamespaces={{{restricted_namespace}}}",
        "networkPolicy.enabled=true",
    )  # fmt: skip
    yield restricted_namespace
    helm_uninstall(cluster.kubeconfig, RELEASE, restricted_namespace)


def _pods(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kubectl.get_json("pods", "-n", namespace, "-l", OPERATOR_POD)["items"]
    return pods


def test_the_namespace_really_enforces_restricted(kubectl: Kubectl, restricted_namespace: str) -> None:
    """Control: without this, an admitted operator pod would prove nothing."""
    root_pod = (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},'
        ' "spec": {"containers": [{"name": "c", "image": "busybox"}]}}'
    )
    with pytest.raises(KubectlError, match="violates PodSecurity"):
        kubectl.run("create", "-n", restricted_namespace, "--dry-run=server", "-f", "-", stdin=root_pod)


def test_the_api_server_admits_the_operator_pod_under_restricted(kubectl: Kubectl, installed: str) -> None:
    def both_replicas() -> list[dict[str, Any]] | None:  # the chart's default: a leader and a standby
        pods = _pods(kubectl, installed)
        return pods if len(pods) >= 2 else None

    pods = wait_for("the operator pods to be created", both_replicas, timeout=60)
    assert len(pods) == 2
    events = kubectl.get_json("events", "-n", installed, "--field-selector=reason=FailedCreate")
    assert events["items"] == [], [e["message"] for e in events["items"]]
    spec = pods[0]["spec"]
    assert spec["serviceAccountName"] == RELEASE
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_chart_role_is_bound_to_its_service_account(kubectl: Kubectl, installed: str) -> None:
    account = f"system:serviceaccount:{installed}:{RELEASE}"
    can = kubectl.run("auth", "can-i", "patch", "modeldeployments.ferryman.dev/status", "-n", installed,
                      f"--as={account}")  # fmt: skip
    assert can.strip() == "yes"
    with pytest.raises(KubectlError):  # `can-i` exits 1 for "no"
        kubectl.run("auth", "can-i", "get", "secrets", "-n", installed, f"--as={account}")


def test_the_leader_election_lease_is_granted_in_the_release_namespace_only(
    kubectl: Kubectl, installed: str
) -> None:
    account = f"system:serviceaccount:{installed}:{RELEASE}"
    for verb in ("get", "create", "update"):
        can = kubectl.run(
            "auth", "can-i", verb, "leases.coordination.k8s.io", "-n", installed, f"--as={account}"
        )
        assert can.strip() == "yes", verb
    with pytest.raises(KubectlError):  # no Lease anywhere else, and no delete
        kubectl.run(
            "auth", "can-i", "update", "leases.coordination.k8s.io", "-n", "default", f"--as={account}"
        )
    with pytest.raises(KubectlError):
        kubectl.run(
            "auth", "can-i", "delete", "leases.coordination.k8s.io", "-n", installed, f"--as={account}"
        )
