"""Fixtures of the cluster tier: the local dev cluster (real control plane, pod network, pod runner)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferryman_testing.cluster import (
    DevCluster,
    fresh_namespace,
)


@pytest.fixture
def namespace(cluster: DevCluster) -> Iterator[str]:
    """A fresh namespace for one test."""
    with fresh_namespace(cluster) as name:
        yield name
