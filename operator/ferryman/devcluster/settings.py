"""Settings of the dev cluster, read once from the environment (prefix FERRYMAN_DEVCLUSTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# operator/ferryman/devcluster/settings.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[3]


class DevClusterSettings(BaseSettings):
    """Where the cluster lives and how big it is."""

    model_config = SettingsConfigDict(env_prefix="FERRYMAN_DEVCLUSTER_", extra="ignore")

    name: str = Field("ferryman", pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
    nodes: int = Field(2, ge=1, le=8, description="number of kwok nodes, each with a network namespace")
    workdir: Path = Field(
        Path.home() / ".local" / "state" / "ferryman" / "kwok",
        description="KWOK_WORKDIR: kwokctl keeps clusters, kubeconfigs and logs under it",
    )
    build_script: Path = REPO_ROOT / "scripts" / "build-cluster-binaries"
    start_timeout_seconds: float = 180.0

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    @property
    def runner_dir(self) -> Path:
        """Pod runner pid file, log and per-pod logs."""
        return self.cluster_dir / "ferryman-runner"
