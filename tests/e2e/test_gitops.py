"""What Argo CD sees after a full rollout: the user's manifest has no diff against the live object."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from kopf.testing import KopfRunner
from tests.e2e.rollout_harness import (
    MODEL,
    apply_model,
    canary,
    host_of,
    wait_for_rollout_end,
    wait_until_serving,
)

from ferryman_testing.kube_cli import Kubectl, kubectl_binary
from ferryman_testing.load import steady_load
from ferryman_testing.manifests import model_deployment
from ferryman_testing.models import make_gradient_boosting_model
from ferryman_testing.traefik import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_after_a_full_rollout_the_users_manifest_shows_no_server_side_diff(
    kubectl: Kubectl,
    namespace: str,
    gateway: Gateway,
    operator: KopfRunner,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The operator writes only .status, its finalizer and its own annotations; a server-side diff (what
    Argo CD's server-side diff runs) of the manifest the user applied finds nothing to change."""
    root = tmp_path_factory.mktemp("models")
    v1 = make_gradient_boosting_model(root / "v1", trees=10).model_path.as_uri()
    v2 = make_gradient_boosting_model(root / "v2", trees=12).model_path.as_uri()
    strategy = canary([50])
    apply_model(kubectl, namespace, gateway, v1, strategy)
    wait_until_serving(kubectl, namespace, v1, gateway)
    with steady_load(gateway.base_url, MODEL, rate=20, headers=host_of(namespace)):
        apply_model(kubectl, namespace, gateway, v2, strategy)
        ended = wait_for_rollout_end(kubectl, namespace, v2)
    assert ended["phase"] == "Succeeded", ended

    users_manifest = model_deployment(
        MODEL,
        namespace,
        v2,
        strategy=strategy,
        parent_ref=gateway.parent_ref,
        hostname=host_of(namespace)["Host"],
    )
    diff = subprocess.run(
        [kubectl_binary(), f"--kubeconfig={kubectl.kubeconfig}", "diff", "--server-side",
         "--field-manager=ferryman-e2e", "-f", "-"],
        input=yaml.safe_dump(users_manifest), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stdout + diff.stderr
