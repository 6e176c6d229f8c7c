"""The alias timer: a ModelDeployment tracking `models:/NAME@ALIAS` follows the alias when it moves.

Each tick looks the alias up in the process's cache (a registry request once per poll period per
alias, or at once after a webhook said it moved), then does at most one thing and leaves the rest
to the next tick, which sees the status it wrote:
1. write back to the registry what the rollout decided (tag; alias back after a rollback);
2. record the registry's part of the status (alias, conditions) when it changed;
3. follow the alias: a move starts a rollout exactly as an edit of a pinned URI does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from ferryman.api import GROUP, VERSION, ModelDeployment
from ferryman.builders.registry_link import alias_status, decide_registry_writes, owner_key, rejection_lifted
from ferryman.builders.rollout_plan import rollout_inputs
from ferryman.builders.version_change import VersionChange
from ferryman.config import Settings
from ferryman.handlers import model_deployment
from ferryman.handlers.registry_link import look_up, tracks_alias, write_back
from ferryman.handlers.status_writes import write_status
from ferryman.registry.mlflow import RegistryError

PLURAL = "modeldeployments"
TICK_SECONDS = 2.0  # only the cache is asked this often; the registry once per poll period
NOTHING_TO_DO = frozenset(
    {
        VersionChange.KEEP_STABLE,
        VersionChange.CONTINUE,
        VersionChange.KEEP_REJECTED,
        VersionChange.KEEP_STOPPED,
    }
)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, when=tracks_alias)
def follow_alias(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    config: Settings = memo.config
    previous = dict(body.status)
    if not previous.get("stableUri"):
        return  # nothing served yet: the first deploy is the reconcile's (it resolves the alias itself)
    try:
        md = ModelDeployment.model_validate(body)
        inputs = rollout_inputs(md, config)
    except ValueError:  # an invalid spec: the reconcile reports it; nothing follows until it is fixed
        return
    look = look_up(md, memo, fresh=False)
    if look is None:
        return
    now = datetime.now(UTC)
    owner = owner_key(md.metadata.namespace, md.metadata.name)
    record, error, error_reason = previous.get("registryRecord"), look.error, look.error_reason
    if look.target is not None:
        writes = decide_registry_writes(previous, look.model, look.target.version, owner, now)
        if writes is not None:
            try:
                write_back(memo, look, writes)
                record = writes.record
            except RegistryError as failed:
                error, error_reason = str(failed), "RegistryUnreachable"
    follow = look.follow(previous, owner) if error is None else None
    version = look.target.version if look.target is not None else None
    desired = alias_status(
        previous, model=look.model, alias=look.alias, version=version, error=error,
        error_reason=error_reason, follow=follow,
        record=record, now=now,
    )  # fmt: skip
    if write_status(body, desired):
        _announce(body, previous, desired)
        return
    if follow is None or follow.blocked is not None or look.target is None:
        return
    lifted = rejection_lifted(previous, look.model, look.target.tags, owner)
    pinned, change = model_deployment.classify(
        md.with_model_uri(follow.uri), previous, inputs, spec_changed=False, rejection_lifted=lifted
    )
    if change in NOTHING_TO_DO or (
        change is VersionChange.SERVE_IN_PLACE and follow.uri == previous["stableUri"]
    ):
        return
    model_deployment.carry_out(pinned, change, inputs, body, patch, previous, config, now, logger)


def _announce(body: kopf.Body, previous: dict[str, Any], desired: dict[str, Any]) -> None:
    """An Event when the registry becomes unreachable or a move of the alias is refused."""
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for entry in desired["conditions"]:
        if entry["status"] != "False" or before.get(entry["type"], {}).get("status") == "False":
            continue
        if entry["type"] in ("RegistryReachable", "AliasFollowed"):
            kopf.event(body, type="Warning", reason=entry["reason"], message=entry["message"])
