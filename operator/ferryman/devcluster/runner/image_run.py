"""Pure: the `podman run` command line of one container whose image is in local storage.

What the kubelet would do with the pod's spec, as podman flags: the node's network namespace, the
securityContext (user, read-only root, capabilities, no new privileges), env, command/args, and the
volumes that can be made here (emptyDir, hostPath). Only model_files looks at the disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferryman.devcluster.runner.podspec import Container, Pod, PodSpecError, expand


@dataclass(frozen=True)
class ImageRun:
    """The container's name in podman, and the command that runs it in the foreground."""

    name: str
    argv: list[str]


def container_name(pod: Pod, container: Container) -> str:
    """Unique per pod incarnation (uid) and container, so a restarted pod never meets its old container."""
    return f"fm-{pod['metadata']['uid'][:13]}-{container['name']}"[:63]


def image_run(
    pod: Pod,
    container: Container,
    env: Mapping[str, str],
    *,
    netns_path: str,
    cluster_label: tuple[str, str],
    volume_dirs: Mapping[str, Path],
    image_user: str,
    host_files: Sequence[str] = (),
) -> ImageRun:
    """`podman run` for `container`; env values are passed by name (`--env NAME`) so no secret is in argv."""
    name = container_name(pod, container)
    argv = ["podman", "run", "--rm", "--name", name, "--pull", "never"]
    argv += ["--network", f"ns:{netns_path}", "--hostname", pod["metadata"]["name"]]
    argv += ["--label", "=".join(cluster_label)]
    argv += _security_flags(pod, container, image_user)
    for variable in env:
        argv += ["--env", variable]
    argv += _volume_flags(pod, container, volume_dirs)
    for path in host_files:
        argv += ["--volume", f"{path}:{path}:ro"]
    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]
    command = [expand(part, env) for part in container.get("command", [])]
    if command:
        argv += ["--entrypoint", json.dumps(command)]
    argv.append(container["image"])
    argv += [expand(part, env) for part in container.get("args", [])]
    return ImageRun(name, argv)


def _security_flags(pod: Pod, container: Container, image_user: str) -> list[str]:
    pod_context: dict[str, Any] = pod["spec"].get("securityContext") or {}
    context: dict[str, Any] = container.get("securityContext") or {}

    def setting(key: str) -> Any:
        return context.get(key, pod_context.get(key))

    user, group = setting("runAsUser"), setting("runAsGroup")
    flags = []
    if user is not None:
        flags += ["--user", f"{user}:{group}" if group is not None else str(user)]
    if setting("runAsNonRoot"):
        _check_non_root(container, user, image_user)
    if context.get("readOnlyRootFilesystem"):
        # Kubernetes adds no tmpfs anywhere: whatever must be writable comes from a volume.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if context.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for capability in (context.get("capabilities") or {}).get("drop", []):
        flags += ["--cap-drop", capability]
    return flags


def _check_non_root(container: Container, user: Any, image_user: str) -> None:
    """The kubelet's runAsNonRoot check: the uid must be known (numeric) and not 0."""
    effective = str(user) if user is not None else image_user.split(":")[0]
    if not effective.isdigit():
        raise PodSpecError(
            f"container {container['name']!r} has runAsNonRoot and image {container['image']!r} has "
            f"non-numeric user ({effective or 'root'!r}): set securityContext.runAsUser"
        )
    if int(effective) == 0:
        raise PodSpecError(
            f"container {container['name']!r} has runAsNonRoot and would run as root: "
            "set securityContext.runAsUser to a non-zero uid"
        )


def _volume_flags(pod: Pod, container: Container, volume_dirs: Mapping[str, Path]) -> list[str]:
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes", [])}
    flags = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            raise PodSpecError(f"volumeMount {mount['name']!r} names no volume of the pod")
        if "emptyDir" in volume or "projected" in volume:
            source = str(volume_dirs[mount["name"]])
        elif "hostPath" in volume:
            source = volume["hostPath"]["path"]
        else:
            # configMap, secret...: not made here, as for host processes; the path stays absent.
            continue
        # A projected volume is read-only whatever the mount says (the kubelet mounts it so).
        suffix = ":ro" if mount.get("readOnly") or "projected" in volume else ""
        flags += ["--volume", f"{source}:{mount['mountPath']}{suffix}"]
    return flags


def empty_dirs(pod: Pod) -> list[str]:
    """Names of the pod's emptyDir volumes (the worker makes a directory for each)."""
    return [volume["name"] for volume in pod["spec"].get("volumes", []) if "emptyDir" in volume]


def model_files(env: Mapping[str, str]) -> list[str]:
    """Host files named by file:// URIs in the env (a model on the node's disk, as the tests use)."""
    files = []
    for value in env.values():
        if value.startswith("file:///"):
            path = Path(value.removeprefix("file://"))
            if path.is_file():
                files += sorted(str(p) for p in path.parent.iterdir() if p.is_file())
    return sorted(set(files))
