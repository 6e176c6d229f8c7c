"""Fixtures shared by the tiers that need the local cluster (cluster, e2e)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferryman_testing.chart_release import chart_rbac_kubeconfig
from ferryman_testing.cluster import (
    ClusterStartError,
    DevCluster,
    keep_cluster,
    start_dev_cluster,
    stop_dev_cluster,
)
from ferryman_testing.kube_cli import Kubectl


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    """The dev cluster for the whole session; torn down at the end unless FERRYMAN_KEEP_CLUSTER=1.

    If it cannot start the tier fails: a cluster or e2e test is never skipped.
    """
    try:
        running = start_dev_cluster()
    except ClusterStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield running
    if not keep_cluster():
        stop_dev_cluster()


@pytest.fixture(scope="session")
def kubectl(cluster: DevCluster) -> Kubectl:
    """kubectl with the cluster's admin kubeconfig."""
    return cluster.kubectl


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operator's credentials in the cluster and e2e tiers: the Helm chart's ServiceAccount, bound to
    nothing but the chart's generated RBAC, so a call the chart does not grant fails the test."""
    return chart_rbac_kubeconfig(cluster.kubectl, tmp_path_factory.mktemp("chart-rbac"))
