"""Fixtures of the cluster tier: the local dev cluster (real control plane, pod network, pod runner)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from tests.support.cluster import (
    DevCluster,
    fresh_namespace,
)
from tests.support.kube_cli import Kubectl
from tests.support.models import make_gradient_boosting_model
from tests.support.operator import install_crds, running_operator


@pytest.fixture
def namespace(cluster: DevCluster) -> Iterator[str]:
    """A fresh namespace for one test."""
    with fresh_namespace(cluster) as name:
        yield name


@pytest.fixture(scope="module")
def kubectl(cluster: Any) -> Kubectl:
    kubectl = Kubectl(Path(cluster.kubeconfig))
    install_crds(kubectl)
    return kubectl


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    files = make_gradient_boosting_model(tmp_path_factory.mktemp("model"), trees=10)
    return files.model_path.as_uri()


@pytest.fixture
def operator(cluster: Any, namespace: str) -> Iterator[KopfRunner]:
    with running_operator(Path(cluster.kubeconfig), namespace) as runner:
        yield runner
        # While the operator still runs, so that any finalizer it placed is released.
        cluster.kubectl(
            "delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s"
        )
