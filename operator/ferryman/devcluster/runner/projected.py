"""The pod's projected volumes (the ServiceAccount token's above all) as directories the container mounts.

Each file is replaced atomically (write beside it, rename over it), and the directory itself is what is
mounted, so a renewed token appears in the running container without a restart, as with a kubelet.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ferryman.devcluster.runner.podspec import KeyLookup, Pod
from ferryman.devcluster.runner.service_account import (
    ProjectedContent,
    TokenIssuer,
    projected_content,
    projected_volumes,
)

log = logging.getLogger("ferryman.devcluster.runner")


class ProjectedVolumes:
    """Writes a pod's projected volumes under `<pod dir>/volumes/<name>` and renews them when due."""

    def __init__(self, pod_dir: Path, key: str) -> None:
        self.root = pod_dir / "volumes"
        self.key = key
        self._refresh_at: dict[str, float] = {}
        self._written: set[str] = set()

    def write_all(self, pod: Pod, issue_token: TokenIssuer, lookup: KeyLookup) -> dict[str, Path]:
        """Make every projected volume now (a container is about to start); their directories by name."""
        return {
            name: self._write(name, projected_content(pod, projected, issue_token, lookup))
            for name, projected in projected_volumes(pod).items()
        }

    def renew_due(self, pod: Pod, issue_token: TokenIssuer, lookup: KeyLookup, now: float) -> None:
        """Rewrite the volumes whose token reached its refresh time (epoch seconds `now`)."""
        for name, projected in projected_volumes(pod).items():
            due = self._refresh_at.get(name)
            if due is not None and now >= due:
                self._write(name, projected_content(pod, projected, issue_token, lookup))
                log.info("%s: renewed the token in projected volume %s", self.key, name)

    def remove(self) -> None:
        """The pod is gone or no longer ours: its tokens go with it, as the kubelet unmounts its volumes."""
        for name in list(self._written):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self._written.clear()
        self._refresh_at.clear()

    def _write(self, name: str, content: ProjectedContent) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)  # the container's non-root user must reach the files
        for relative, text in content.files.items():
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.new")
            temporary.write_text(text)
            # The kubelet's defaultMode 0644; the pod directory is under root's 0700 home.
            temporary.chmod(0o644)
            os.replace(temporary, target)
        self._written.add(name)
        if content.refresh_at is None:
            self._refresh_at.pop(name, None)
        else:
            self._refresh_at[name] = content.refresh_at
        return directory
