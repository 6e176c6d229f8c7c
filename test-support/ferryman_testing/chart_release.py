"""The Helm chart installed into the local cluster, and a kubeconfig that acts as its ServiceAccount.

The cluster and e2e tiers run the operator with that kubeconfig, so the operator has exactly the rights
the chart's generated RBAC grants: a verb the code needs and the chart lacks fails those tests (403).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ferryman_testing.chart_tools import CHART, install_chart_tools, run_tool
from ferryman_testing.kube_cli import Kubectl

RBAC_RELEASE = "ferryman-rbac"
# Long enough for the slowest tier (e2e); a kept cluster gets a fresh token each session.
TOKEN_DURATION = "4h"


def helm_install(kubeconfig: Path, release: str, namespace: str, *settings: str) -> str:
    """`helm upgrade --install` of the chart (idempotent: a kept cluster may already have the release)."""
    helm = install_chart_tools().helm
    sets = [f"--set={setting}" for setting in settings]
    return run_tool(
        helm, "upgrade", "--install", release, CHART, f"--kubeconfig={kubeconfig}",
        f"--namespace={namespace}", "--create-namespace", "--skip-crds", *sets, timeout=180,
    )  # fmt: skip


def helm_uninstall(kubeconfig: Path, release: str, namespace: str) -> None:
    helm = install_chart_tools().helm
    run_tool(helm, "uninstall", release, f"--kubeconfig={kubeconfig}", f"--namespace={namespace}")


def service_account_kubeconfig(kubectl: Kubectl, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig for the admin's cluster whose user is a token of the ServiceAccount (TokenRequest)."""
    token = kubectl.run(
        "create", "token", account, f"--namespace={namespace}", f"--duration={TOKEN_DURATION}"
    )
    admin = yaml.safe_load(kubectl.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    user = f"system:serviceaccount:{namespace}:{account}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token.strip()}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def chart_rbac_kubeconfig(kubectl: Kubectl, directory: Path) -> Path:
    """Install the chart's RBAC (no operator pod: replicaCount 0); its ServiceAccount's kubeconfig.

    With the registry webhook on, so that its Role (the Service's EndpointSlice) is granted as well.
    """
    webhook = ("operator.registryWebhookSecret.name=unused", "operator.mlflowTrackingUri=http://127.0.0.1:9")
    helm_install(kubectl.kubeconfig, RBAC_RELEASE, RBAC_RELEASE, "replicaCount=0", *webhook)
    return service_account_kubeconfig(kubectl, RBAC_RELEASE, RBAC_RELEASE, directory / "operator.kubeconfig")
