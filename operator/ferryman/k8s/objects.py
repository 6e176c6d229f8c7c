"""Read and write objects: server-side apply for what we own, merge patches for status.

Every call to the API server goes through `_call`, and every API error is turned into a Kopf
error here and nowhere else: 4xx that retrying cannot fix become PermanentError (Degraded),
everything else TemporaryError (retried with a delay).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import kopf

from ferryman.k8s.client import api_client
from ferryman.k8s.resources import ResourceKind, kind_of

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
RETRY_DELAY_SECONDS = 5.0


class NotFound(kopf.TemporaryError):
    """The object is not (yet) there."""


def _call(
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    query: list[tuple[str, str]] | None = None,
) -> Any:
    client = api_client()
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    _, url, headers, payload, _ = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(method, url, header_params=headers, body=payload)
    data: bytes = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status < 300:
        raise _as_kopf_error(response.status, data, f"{method} {path}")
    return json.loads(data) if data else None


def _as_kopf_error(status: int, body: bytes, what: str) -> Exception:
    message = _api_message(body)
    if status == 404:
        return NotFound(f"{what}: not found", delay=RETRY_DELAY_SECONDS)
    if status in (400, 403, 422):
        return kopf.PermanentError(f"{what} refused ({status}): {message}")
    # A conflict means someone wrote first: decide again from fresh data right away.
    delay = 1.0 if status == 409 else RETRY_DELAY_SECONDS
    return kopf.TemporaryError(f"{what} failed ({status}): {message}", delay=delay)


def _api_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


def apply(manifest: dict[str, Any], field_manager: str) -> dict[str, Any]:
    """Server-side apply: the API server merges our fields and leaves everyone else's alone."""
    kind = kind_of(manifest)
    meta = manifest["metadata"]
    query = [("fieldManager", field_manager), ("force", "true")]
    path = kind.object_path(meta.get("namespace"), meta["name"])
    result: dict[str, Any] = _call("PATCH", path, body=manifest, content_type=APPLY_CONTENT_TYPE, query=query)
    return result


def get(kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    try:
        result: dict[str, Any] = _call("GET", kind.object_path(namespace, name))
    except NotFound:
        return None
    return result


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


def scale(kind: ResourceKind, namespace: str | None, name: str, replicas: int) -> None:
    """Set replicas through the scale subresource, leaving the rest of the object alone; absent is fine."""
    path = kind.object_path(namespace, name) + "/scale"
    with contextlib.suppress(NotFound):
        _call("PATCH", path, body={"spec": {"replicas": replicas}}, content_type=MERGE_CONTENT_TYPE)
