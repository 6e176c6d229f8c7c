"""What a spec edit means for the rollout: a pure decision from status and the desired model."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Any

from ferryman.api import uri_version_label
from ferryman.api.vocabulary import ACTIVE_PHASES, Phase

FAILED_PHASES = frozenset({Phase.ROLLED_BACK, Phase.DEGRADED})


class VersionChange(enum.Enum):
    SERVE_IN_PLACE = "serve the desired model from the stable track (first deploy, or no strategy)"
    KEEP_STABLE = "the desired model is already stable"
    ABORT_TO_STABLE = "the spec went back to the stable model mid-rollout: abort the canary"
    START_ROLLOUT = "a new model: start a rollout beside stable"
    REPLACE_CANARY = "a newer model arrived mid-rollout: abort the old canary, start the new one"
    CONTINUE = "the rollout of this model is under way"
    KEEP_REJECTED = "this model was rolled back; it stays rejected until the spec names another"
    KEEP_STOPPED = "this model's rollout stopped unjudged; an edit of the spec tries it again"


def classify_version_change(
    status: Mapping[str, Any],
    desired_uri: str,
    has_strategy: bool,
    spec_changed: bool = False,
    rejection_lifted: bool = False,
) -> VersionChange:
    """Decide how to treat desired_uri given what status says is stable and in flight.

    A canary judged bad (or aborted) stays rejected whatever else changes, unless its rejection was
    lifted (`rejection_lifted`: the registry tag that recorded it was removed). One that stopped without
    a verdict (not Ready in time, no traffic, metrics unavailable, an invalid spec) is tried again
    when the spec changes (`spec_changed`: a new generation), not when the operator restarts.
    """
    stable_uri = status.get("stableUri")
    phase = status.get("phase")
    canary_uri = status.get("canaryUri")
    if stable_uri is None or not has_strategy:
        return VersionChange.SERVE_IN_PLACE
    if desired_uri == stable_uri:
        return VersionChange.ABORT_TO_STABLE if phase in ACTIVE_PHASES else VersionChange.KEEP_STABLE
    if phase in ACTIVE_PHASES:
        return VersionChange.CONTINUE if canary_uri == desired_uri else VersionChange.REPLACE_CANARY
    if phase in FAILED_PHASES and canary_uri == desired_uri:
        rejected = status.get("rejectedVersion") is not None and (
            status.get("rejectedVersion") == status.get("canaryVersion")
        )
        if rejected and not rejection_lifted:
            return VersionChange.KEEP_REJECTED
        if rejected:
            return VersionChange.START_ROLLOUT
        return VersionChange.START_ROLLOUT if spec_changed else VersionChange.KEEP_STOPPED
    return VersionChange.START_ROLLOUT


def version_label_in(status: Mapping[str, Any], desired_uri: str) -> str:
    """The version label of desired_uri given the status: the one already recorded for it, else a new one.

    models:/a/7 and models:/b/7 (or models:/a@prod and models:/b@prod) both read "7" (or "prod"); a
    rollout between them would have two tracks with one version, which the state machine refuses, and
    even in place the version shown would not change with the model. A short hash of the URI tells
    them apart and is the same on every reconcile.
    """
    for track in ("stable", "canary"):
        recorded = status.get(f"{track}Version")
        if recorded and status.get(f"{track}Uri") == desired_uri:
            return str(recorded)
    label = uri_version_label(desired_uri)
    if label not in (status.get("stableVersion"), status.get("canaryVersion")):
        return label
    digest = hashlib.sha256(desired_uri.encode()).hexdigest()[:8]
    return f"{label[:54]}-{digest}"
