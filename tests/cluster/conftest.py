"""Fixtures of the cluster tier: the local dev cluster (real control plane, pod network, pod runner)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from ferryman_testing import FERRYMAN_CRDS
from ferryman_testing.cluster import DevCluster, fresh_namespace
from ferryman_testing.kube_cli import Kubectl, install_crds
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.operator import running_operator


@pytest.fixture
def namespace(cluster: DevCluster) -> Iterator[str]:
    """A fresh namespace for one test."""
    with fresh_namespace(cluster) as name:
        yield name


@pytest.fixture(scope="module")
def kubectl(kubectl: Kubectl) -> Kubectl:
    """The session's kubectl, once Ferryman's CRDs are installed."""
    install_crds(kubectl, *FERRYMAN_CRDS)
    return kubectl


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    files = make_gradient_boosting_model(tmp_path_factory.mktemp("model"), trees=10)
    return files.model_path.as_uri()


@pytest.fixture
def operator(cluster: Any, namespace: str, operator_kubeconfig: Path) -> Iterator[KopfRunner]:
    with running_operator(operator_kubeconfig, namespace) as runner:
        yield runner
        # While the operator still runs, so that any finalizer it placed is released.
        cluster.kubectl.run(
            "delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s"
        )
