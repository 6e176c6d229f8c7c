"""Read and write objects: server-side apply for what we own, merge patches for status.

Every call to the API server goes through `_call`, with a timeout, and every API error is turned
into a Kopf error here and nowhere else: 4xx that retrying cannot fix become PermanentError
(Degraded), everything else, no answer in time included, TemporaryError (retried with a delay).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import kopf
import urllib3

from ferryman.k8s.client import api_connection, forget_connection
from ferryman.k8s.resources import ResourceKind, kind_of

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
RETRY_DELAY_SECONDS = 5.0
GARBAGE_COLLECTION_DELAY_SECONDS = 2.0


class NotFound(kopf.TemporaryError):
    """The object is not (yet) there."""


class Conflict(kopf.TemporaryError):
    """Someone wrote the object since it was read (a resourceVersion precondition failed)."""


class ClusterRefused(kopf.PermanentError):
    """The cluster cannot take an object built from a valid spec; the message names the object and the fix."""


class NotOwned(ClusterRefused):
    """An object of that name exists and this owner does not control it: we never take it over."""


class KindNotServed(ClusterRefused):
    """The API server does not serve the object's kind: its CRDs are not installed."""


def _call(
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    query: list[tuple[str, str]] | None = None,
) -> Any:
    headers = {"Accept": "application/json"}
    if content_type or body is not None:
        headers["Content-Type"] = content_type or "application/json"
    payload = json.dumps(body).encode() if body is not None else None
    try:
        response = api_connection().request(method, path, query or [], payload, headers)
        if response.status == 401:  # a renewed token (or certificate): log in again once, as Kopf does
            forget_connection()
            response = api_connection().request(method, path, query or [], payload, headers)
    except urllib3.exceptions.HTTPError as error:  # timeouts, refused or reset connections
        raise kopf.TemporaryError(
            f"{method} {path}: no answer from the API server ({type(error).__name__})",
            delay=RETRY_DELAY_SECONDS,
        ) from error
    data = response.data
    if not 200 <= response.status < 300:
        raise _as_kopf_error(response.status, data, f"{method} {path}")
    return json.loads(data) if data else None


def _as_kopf_error(status: int, body: bytes, what: str) -> Exception:
    message = _api_message(body)
    if status == 404:
        return NotFound(f"{what}: not found", delay=RETRY_DELAY_SECONDS)
    if status in (400, 403, 422):
        return kopf.PermanentError(f"{what} refused ({status}): {message}")
    if status == 409:  # someone wrote first: decide again from fresh data soon
        return Conflict(f"{what} failed ({status}): {message}", delay=1.0)
    return kopf.TemporaryError(f"{what} failed ({status}): {message}", delay=RETRY_DELAY_SECONDS)


def _api_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


def apply(manifest: dict[str, Any], field_manager: str) -> dict[str, Any]:
    """Server-side apply: the API server merges our fields and leaves everyone else's alone.

    force=true settles field conflicts with other managers of an object we own (e.g. a kubectl
    edit of replicas); it must never adopt an object someone else made, so ownership is checked first.
    """
    kind = kind_of(manifest)
    meta = manifest["metadata"]
    _refuse_takeover(kind, manifest)
    query = [("fieldManager", field_manager), ("force", "true")]
    path = kind.object_path(meta.get("namespace"), meta["name"])
    try:
        result: dict[str, Any] = _call(
            "PATCH", path, body=manifest, content_type=APPLY_CONTENT_TYPE, query=query
        )
    except NotFound as missing:
        # Apply creates what is absent, so a 404 means the kind itself is not served: retrying
        # cannot help until someone installs its CRDs.
        raise KindNotServed(kind_not_served_message(kind)) from missing
    return result


def kind_not_served_message(kind: ResourceKind) -> str:
    where = f"{kind.kind} ({kind.api_version}) is not served by this cluster"
    return f"{where}: {kind.when_missing}" if kind.when_missing else f"{where}: install its CRDs"


def get(kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    try:
        result: dict[str, Any] = _call("GET", kind.object_path(namespace, name))
    except NotFound:
        return None
    return result


def create(kind: ResourceKind, namespace: str | None, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create the object; one of that name already there is a 409 (TemporaryError): someone was first."""
    result: dict[str, Any] = _call("POST", kind.collection_path(namespace), body=manifest)
    return result


def replace(kind: ResourceKind, namespace: str | None, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Replace (PUT) the object; the manifest's metadata.resourceVersion makes a concurrent write a 409."""
    result: dict[str, Any] = _call("PUT", kind.object_path(namespace, name), body=manifest)
    return result


def list_objects(
    kind: ResourceKind, namespace: str | None, label_selector: str = "", *, field_selector: str = ""
) -> list[dict[str, Any]]:
    """The objects of kind in namespace that match the label and field selectors (server-side filtered)."""
    selectors = (("labelSelector", label_selector), ("fieldSelector", field_selector))
    query = [(name, value) for name, value in selectors if value]
    result: dict[str, Any] = _call("GET", kind.collection_path(namespace), query=query)
    return list(result.get("items") or [])


def delete(kind: ResourceKind, namespace: str | None, name: str, uid: str) -> None:
    """Delete the object with this uid (a namesake made since is left alone); gone already is fine.

    Background propagation: what it owns goes through the garbage collector, as `kubectl delete` does."""
    body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
    with contextlib.suppress(NotFound):
        _call("DELETE", kind.object_path(namespace, name), body=body)


def patch_status(
    kind: ResourceKind,
    namespace: str | None,
    name: str,
    status: dict[str, Any],
    *,
    resource_version: str | None = None,
) -> None:
    """Merge-patch the status subresource; with resource_version, only if nobody wrote in between.

    The precondition turns a race (two writers deciding from the same old status) into a 409,
    which comes back as a TemporaryError: the loser decides again from the fresh status.
    """
    path = kind.object_path(namespace, name) + "/status"
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    _call("PATCH", path, body=body, content_type=MERGE_CONTENT_TYPE)


def patch_metadata(kind: ResourceKind, namespace: str | None, name: str, metadata: dict[str, Any]) -> None:
    """Merge-patch metadata (e.g. to clear a handled action annotation)."""
    path = kind.object_path(namespace, name)
    _call("PATCH", path, body={"metadata": metadata}, content_type=MERGE_CONTENT_TYPE)


def scale(kind: ResourceKind, namespace: str | None, name: str, replicas: int, owner_uid: str | None) -> None:
    """Set replicas through the scale subresource, leaving the rest of the object alone; absent is fine.

    Only an object whose controller is `owner_uid`: one of that name made by someone else is left as it
    is (scaling a stranger's Deployment to 0 would be a takeover). The GET-then-PATCH window is as in
    `_refuse_takeover`."""
    existing = get(kind, namespace, name)
    if existing is None or _controller_uid(existing.get("metadata") or {}) != owner_uid:
        return
    path = kind.object_path(namespace, name) + "/scale"
    with contextlib.suppress(NotFound):
        _call("PATCH", path, body={"spec": {"replicas": replicas}}, content_type=MERGE_CONTENT_TYPE)


def _controller_uid(metadata: dict[str, Any]) -> str | None:
    refs = metadata.get("ownerReferences") or []
    return next((str(ref.get("uid")) for ref in refs if ref.get("controller")), None)


def _refuse_takeover(kind: ResourceKind, manifest: dict[str, Any]) -> None:
    """NotOwned when an object of that name exists whose controller is not the manifest's owner.

    A GET before the apply leaves a small window in which someone else may create the object; closing
    it would need create-then-apply, which changes who owns the fields. The window is milliseconds.
    """
    meta = manifest["metadata"]
    owner_uid = _controller_uid(meta)
    if owner_uid is None:
        return
    existing = get(kind, meta.get("namespace"), meta["name"])
    if existing is None:
        return
    existing_meta = existing.get("metadata") or {}
    if _controller_uid(existing_meta) == owner_uid:
        return
    if existing_meta.get("deletionTimestamp") or _left_by_namesake(meta, existing_meta):
        # A ModelDeployment deleted and created again under the same name: its old objects go soon.
        raise kopf.TemporaryError(
            f"{kind.kind} {meta.get('namespace')}/{meta['name']} of a deleted namesake is still there; "
            "waiting for the garbage collector",
            delay=GARBAGE_COLLECTION_DELAY_SECONDS,
        )
    raise NotOwned(not_owned_message(kind, meta, existing_meta))


def _left_by_namesake(wanted: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Controlled by an owner of our kind and name but another uid: that owner no longer exists."""
    ours: dict[str, Any] = next(iter(wanted.get("ownerReferences") or []), {})
    theirs: dict[str, Any] = next(
        (ref for ref in existing.get("ownerReferences") or [] if ref.get("controller")), {}
    )
    same_owner_name = (theirs.get("kind"), theirs.get("name")) == (ours.get("kind"), ours.get("name"))
    return same_owner_name and theirs.get("apiVersion") == ours.get("apiVersion")


def not_owned_message(kind: ResourceKind, wanted: dict[str, Any], existing: dict[str, Any]) -> str:
    """Names the object, who controls it, and the two ways out."""
    where = f"{kind.kind} {wanted.get('namespace')}/{wanted['name']}"
    refs = [ref for ref in existing.get("ownerReferences") or [] if ref.get("controller")]
    holder = f"{refs[0].get('kind')} {refs[0].get('name')}" if refs else "nobody (created outside ferryman)"
    owner: dict[str, Any] = next(iter(wanted.get("ownerReferences") or []), {})
    return (
        f"{where} already exists and is controlled by {holder}, not by {owner.get('kind')} "
        f"{owner.get('name')}; ferryman never takes over an object it does not own: rename this "
        f"{owner.get('kind')}, or delete {where} if nothing else needs it"
    )
