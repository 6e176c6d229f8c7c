"""Who controls an object the operator makes: the one way to say it and the one way to read it."""

from __future__ import annotations

from typing import Any

from ferryman.api.meta import ApiResource


def owner_reference(owner: ApiResource) -> dict[str, Any]:
    """Makes `owner` the controller of an object: deleting the owner deletes it (garbage collection)."""
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlling_owner(obj: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """(name, uid) of the ferryman.dev object of `kind` that controls obj, read from its ownerReferences.

    Labels are no proof: anyone who can create an object can copy ours onto it. The controller
    reference is set by us only, and its uid names one owner, not a later namesake.
    """
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        ours = str(ref.get("apiVersion", "")).startswith("ferryman.dev/") and ref.get("kind") == kind
        if ours and ref.get("controller"):
            return str(ref.get("name")), str(ref.get("uid"))
    return None
