"""The one way handlers write a ModelDeployment's (or TrainingJob's) status from what they read."""

from __future__ import annotations

from typing import Any

import kopf

from ferryman import k8s
from ferryman.builders.status import status_patch


def write_status(
    body: kopf.Body, desired: dict[str, Any], kind: k8s.ResourceKind = k8s.MODEL_DEPLOYMENT
) -> bool:
    """Write the keys of `desired` that differ from the status in `body`; True when something was written.

    With a resourceVersion precondition: if anyone wrote the object since it was read, the write fails
    as a temporary error and the handler decides again from what is there then, so a stale decision
    never overwrites a newer one.
    """
    changes = status_patch(dict(body.status), desired)
    if not changes:
        return False
    metadata = body.metadata
    k8s.patch_status(
        kind, metadata.namespace, metadata.name or "", changes,
        resource_version=metadata.get("resourceVersion"),
    )  # fmt: skip
    return True
