"""Pure: the Pod Security Standard "restricted" settings of the pods Ferryman makes (serving, batch).

Fresh dictionaries each call: a manifest is a plain dict the caller may change.
"""

from __future__ import annotations

from typing import Any


def restricted_container_security() -> dict[str, Any]:
    """A container's securityContext: no privilege escalation, read-only root, non-root, no capabilities."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security() -> dict[str, Any]:
    """A pod's securityContext: non-root, the runtime's default seccomp profile."""
    return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
