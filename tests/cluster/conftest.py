"""Fixtures of the cluster tier: the local dev cluster (real control plane, pod network, pod runner)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.cluster import (
    ClusterStartError,
    DevCluster,
    fresh_namespace,
    keep_cluster,
    start_dev_cluster,
    stop_dev_cluster,
)


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    """The dev cluster for the whole session; torn down at the end unless FERRYMAN_KEEP_CLUSTER=1.

    If it cannot start the tier fails: a cluster test is never skipped.
    """
    try:
        running = start_dev_cluster()
    except ClusterStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield running
    if not keep_cluster():
        stop_dev_cluster()


@pytest.fixture
def namespace(cluster: DevCluster) -> Iterator[str]:
    """A fresh namespace for one test."""
    with fresh_namespace(cluster) as name:
        yield name
