"""podman, as the dev cluster uses it: is an image here, stop and remove the containers of pods.

Every call points CONTAINERS_CONF at containers.conf beside this file: the flags this kind of VM needs
(runc, cgroupfs, ulimits) live there, shared with scripts/build-images.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
CLUSTER_LABEL = "dev.ferryman.devcluster"  # value: the cluster's name; `down` removes what carries it


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def command(*args: str) -> list[str]:
    return ["podman", *args]


def available() -> bool:
    return shutil.which("podman") is not None


def image_exists(image: str) -> bool:
    """True when `image` is in local storage (the dev cluster never pulls: there is no registry)."""
    if not image or not available():
        return False
    result = subprocess.run(
        command("image", "exists", image), env=env(), capture_output=True, check=False, timeout=30
    )
    return result.returncode == 0


def image_user(image: str) -> str:
    """The image's USER ('' when it sets none, i.e. root)."""
    result = subprocess.run(
        command("image", "inspect", "--format", "{{.Config.User}}", image),
        env=env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def signal_container(name: str, signal: str) -> None:
    subprocess.run(
        command("kill", "--signal", signal, name), env=env(), capture_output=True, check=False, timeout=30
    )


def remove_container(name: str) -> None:
    """Kill and remove at once; a container already gone is fine."""
    subprocess.run(
        command("rm", "--force", "--ignore", "--time", "0", name),
        env=env(),
        capture_output=True,
        check=False,
        timeout=60,
    )


def remove_cluster_containers(cluster: str) -> None:
    """Every container a runner of this cluster started, running or not (down, runner restart)."""
    if not available():
        return
    listed = subprocess.run(
        command("ps", "--all", "--quiet", "--filter", f"label={CLUSTER_LABEL}={cluster}"),
        env=env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    for container_id in listed.stdout.split():
        remove_container(container_id)
