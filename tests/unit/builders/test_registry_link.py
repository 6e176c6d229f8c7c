"""The registry link's decisions: which version to serve for an alias, and what to write back, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ferryman.builders.registry_link import (
    PROMOTED_TAG,
    REJECTED_TAG,
    alias_status,
    decide_alias_follow,
    decide_registry_writes,
    rejection_for,
    rejection_lifted,
    tag_key,
    tag_value,
)
from ferryman.builders.status import with_other_conditions
from ferryman.builders.version_change import VersionChange, classify_version_change

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OWNER = "team-a/fraud"
ROLLOUT = "2026-11-26T11:00:00Z"


def status(phase: str, stable: str = "2", canary: str | None = None, **more: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"phase": phase, "stableUri": f"models:/m/{stable}", "stableVersion": stable}
    if canary is not None:
        result |= {"canaryUri": f"models:/m/{canary}", "canaryVersion": canary}
    result["rolloutStartedAt"] = ROLLOUT
    return result | more


def rejected_tags(owner: str = OWNER, reason: str = "error rate 12%") -> dict[str, str]:
    return {tag_key(REJECTED_TAG, owner): tag_value(owner, T0, reason)}


def test_the_alias_version_is_followed_and_pinned() -> None:
    follow = decide_alias_follow(status("Succeeded"), "m", "production", "3", {}, OWNER)
    assert follow.uri == "models:/m/3" and follow.blocked is None


def test_a_version_rejected_here_is_not_followed_and_the_reason_says_how_to_override() -> None:
    follow = decide_alias_follow(
        status("RolledBack", canary="3"), "m", "production", "3", rejected_tags(), OWNER
    )
    assert follow.blocked is not None
    assert "error rate 12%" in follow.blocked and "ferryman promote" in follow.blocked
    assert f"{REJECTED_TAG}/{OWNER}" in follow.blocked


def test_a_rejection_by_another_model_deployment_does_not_block_this_one() -> None:
    tags = rejected_tags(owner="team-b/fraud")
    assert decide_alias_follow(status("Succeeded"), "m", "production", "3", tags, OWNER).blocked is None


def test_a_rejected_version_already_stable_or_nothing_served_yet_is_not_blocked() -> None:
    assert (
        decide_alias_follow(status("Succeeded", stable="3"), "m", "p", "3", rejected_tags(), OWNER).blocked
        is None
    )
    assert decide_alias_follow({}, "m", "p", "3", rejected_tags(), OWNER).blocked is None


@pytest.mark.parametrize("raw", ["not json", json.dumps(["a"]), json.dumps({"reason": "x"})])
def test_a_tag_that_is_not_ours_is_not_a_rejection(raw: str) -> None:
    assert rejection_for({tag_key(REJECTED_TAG, OWNER): raw}, OWNER) is None
    assert rejection_for({REJECTED_TAG: tag_value(OWNER, T0, "x")}, OWNER) is None


def test_after_a_rollback_the_canary_is_tagged_and_the_alias_moves_back_to_stable() -> None:
    rolled_back = status("RolledBack", canary="3", message="error rate 12% > 1%")
    writes = decide_registry_writes(rolled_back, "m", "3", OWNER, T0)
    assert writes is not None
    assert writes.tag.version == "3" and writes.tag.key == f"ferryman.dev/rejected/{OWNER}"
    assert json.loads(writes.tag.value) == {
        "modelDeployment": OWNER, "at": "2026-11-26T12:00:00Z", "reason": "error rate 12% > 1%"
    }  # fmt: skip
    assert (writes.move_alias_from, writes.move_alias_to) == ("3", "2")
    assert writes.record == {"tag": "rejected", "version": "3", "rolloutStartedAt": ROLLOUT}


def test_the_alias_is_not_moved_when_it_already_names_another_version() -> None:
    writes = decide_registry_writes(status("Degraded", canary="3"), "m", "4", OWNER, T0)
    assert writes is not None and writes.move_alias_to is None and writes.tag.version == "3"


def test_a_rollout_stopped_unjudged_for_an_invalid_spec_rejects_nothing_in_the_registry() -> None:
    """docs/rollouts.md: the canary is not rejected and fixing the spec starts the rollout again; for an
    alias-following ModelDeployment the version was tagged rejected and the alias moved back."""
    stopped = status("Degraded", canary="3", endReason="RolloutStopped")
    assert decide_registry_writes(stopped, "m", "3", OWNER, T0) is None
    not_enough_traffic = status("Degraded", canary="3", endReason="NotEnoughTraffic")
    assert decide_registry_writes(not_enough_traffic, "m", "3", OWNER, T0) is not None


def test_each_write_happens_once_per_rollout() -> None:
    rolled_back = status("RolledBack", canary="3")
    writes = decide_registry_writes(rolled_back, "m", "3", OWNER, T0)
    assert writes is not None
    assert (
        decide_registry_writes(rolled_back | {"registryRecord": writes.record}, "m", "3", OWNER, T0) is None
    )
    again = rolled_back | {"registryRecord": writes.record, "rolloutStartedAt": "2026-11-26T11:30:00Z"}
    assert decide_registry_writes(again, "m", "3", OWNER, T0) is not None  # rejected again, later rollout


def test_a_promotion_by_a_rollout_is_tagged_once_but_a_first_deploy_is_not() -> None:
    promoted = status("Succeeded", stable="3")
    writes = decide_registry_writes(promoted, "m", "3", OWNER, T0)
    assert writes is not None and writes.tag.key == f"{PROMOTED_TAG}/{OWNER}" and writes.move_alias_to is None
    assert decide_registry_writes(promoted | {"registryRecord": writes.record}, "m", "3", OWNER, T0) is None
    first_deploy = {k: v for k, v in promoted.items() if k != "rolloutStartedAt"}
    assert decide_registry_writes(first_deploy, "m", "3", OWNER, T0) is None


def test_nothing_is_written_for_versions_of_another_model_or_during_a_rollout() -> None:
    assert decide_registry_writes(status("RolledBack", canary="3"), "other", "3", OWNER, T0) is None
    assert decide_registry_writes(status("Progressing", canary="3"), "m", "3", OWNER, T0) is None


def test_a_removed_tag_lifts_the_rejection_of_the_recorded_canary() -> None:
    record = {"tag": "rejected", "version": "3", "rolloutStartedAt": ROLLOUT}
    rolled_back = status("RolledBack", canary="3", rejectedVersion="3", registryRecord=record)
    assert not rejection_lifted(rolled_back, "m", rejected_tags(), OWNER)
    assert rejection_lifted(rolled_back, "m", {}, OWNER)
    assert not rejection_lifted(rolled_back | {"registryRecord": None}, "m", {}, OWNER)  # never tagged yet
    same = classify_version_change(rolled_back, "models:/m/3", has_strategy=True)
    lifted = classify_version_change(rolled_back, "models:/m/3", has_strategy=True, rejection_lifted=True)
    assert (same, lifted) == (VersionChange.KEEP_REJECTED, VersionChange.START_ROLLOUT)


def test_alias_status_keeps_the_last_version_seen_when_the_registry_is_unreachable() -> None:
    before = status("Succeeded") | {"alias": {"name": "p", "model": "m", "version": "2"}}
    down = alias_status(
        before,
        model="m",
        alias="p",
        version=None,
        error="MLflow unreachable",
        follow=None,
        record=None,
        now=T0,
    )
    assert down["alias"]["version"] == "2"
    (reachable,) = down["conditions"]
    assert (reachable["type"], reachable["status"], reachable["message"]) == (
        "RegistryReachable", "False", "MLflow unreachable"
    )  # fmt: skip


def test_other_writers_keep_each_others_conditions_in_a_stable_order() -> None:
    previous = [{"type": "Ready", "status": "True"}, {"type": "RegistryReachable", "status": "True"}]
    mine = [{"type": "Ready", "status": "False"}, {"type": "Degraded", "status": "True"}]
    merged = with_other_conditions(mine, previous)
    assert [c["type"] for c in merged] == ["Ready", "RegistryReachable", "Degraded"]
    assert merged[0]["status"] == "False"
    assert with_other_conditions(merged[1:2], merged) == merged


def test_two_model_deployments_tracking_one_alias_do_not_fight() -> None:
    """A (stable 2) and B (stable 1) both try version 3. A rejects it first: tags it and moves the alias
    back to its stable 2. B follows the alias away from 3, and if B rejects 3 too it tags it with its own
    key and leaves the alias where it is: each moves the alias at most once, away from what it rejected."""
    a, b = "team-a/fraud", "team-b/fraud"
    a_status = status("RolledBack", stable="2", canary="3")
    a_writes = decide_registry_writes(a_status, "m", "3", a, T0)
    assert a_writes is not None and (a_writes.move_alias_from, a_writes.move_alias_to) == ("3", "2")
    tags_of_3 = {a_writes.tag.key: a_writes.tag.value}

    b_trying = status("Progressing", stable="1", canary="3")
    follow = decide_alias_follow(b_trying, "m", "p", "2", {}, b)
    assert (follow.uri, follow.blocked) == ("models:/m/2", None)
    assert classify_version_change(b_trying, follow.uri, has_strategy=True) is VersionChange.REPLACE_CANARY

    b_rejected = status("RolledBack", stable="1", canary="3")
    b_writes = decide_registry_writes(b_rejected, "m", "2", b, T0)
    assert b_writes is not None and b_writes.move_alias_to is None
    tags_of_3[b_writes.tag.key] = b_writes.tag.value
    assert rejection_for(tags_of_3, a) is not None and rejection_for(tags_of_3, b) is not None
    a_after = a_status | {"registryRecord": a_writes.record}
    assert decide_registry_writes(a_after, "m", "2", a, T0) is None, "A never moves the alias again"
