"""Names and labels of the objects a ModelDeployment owns, in one place."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

Track = Literal["stable", "canary"]

MANAGED_BY = "ferryman"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL_DEPLOYMENT = "ferryman.dev/model-deployment"
LABEL_TRACK = "ferryman.dev/track"
LABEL_VERSION = "ferryman.dev/model-version"
ANNOTATION_MODEL_URI = "ferryman.dev/model-uri"

# The Deployments the operator watches: stable tracks it made. One dict for the handler's filter and the
# API server's label selector, so the server never drops one the handler would take.
STABLE_DEPLOYMENT_LABELS = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_TRACK: "stable"}

MAX_LABEL_VALUE = 63
_LABEL_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def label_value(text: str) -> str:
    """A label-safe rendering of text: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends."""
    return _LABEL_VALUE_UNSAFE.sub("-", text)[:MAX_LABEL_VALUE].strip("-_.")


def bounded_name(base: str, suffix: str, limit: int) -> str:
    """`<base><suffix>`; when longer than limit, base is cut and a hash of the whole of it added, so two
    long names that share a beginning still get different results."""
    name = f"{base}{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 1
    return f"{base[:keep].rstrip('-.')}-{digest}{suffix}"


def deployment_name(md_name: str, track: Track) -> str:
    return f"{md_name}-{track}"


def service_name(md_name: str) -> str:
    """The Service clients call: it selects every track of the ModelDeployment."""
    return md_name


def track_service_name(md_name: str, track: Track) -> str:
    """A Service per track, for Gateway API backends and per-track analysis."""
    return f"{md_name}-{track}"


def selector_labels(md_name: str) -> dict[str, str]:
    return {LABEL_MODEL_DEPLOYMENT: md_name}


def track_selector_labels(md_name: str, track: Track) -> dict[str, str]:
    return {**selector_labels(md_name), LABEL_TRACK: track}


def owned_labels(md_name: str) -> dict[str, str]:
    """Labels on every object we own; the operator's watches select on these."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        "app.kubernetes.io/name": "ferryman-serving",
        "app.kubernetes.io/instance": md_name,
        **selector_labels(md_name),
    }
