"""What the handler must make true after a transition: desired traffic, Deployments, status, Events.

A Decision is declarative (weights, which version each Deployment runs) so that applying it twice,
or after a crash, is harmless; Events and `reject_canary` mark the transition itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ferryman.rollout.judge import Verdict
from ferryman.rollout.plan import RolloutPlan, StrategyKind
from ferryman.rollout.state import Phase, RolloutState


class EventType(enum.StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes Event on the ModelDeployment."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Condition:
    """A status condition; the handler stamps lastTransitionTime when `status` flips."""

    type: str
    status: str  # "True" | "False"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The new state plus what to do about it.

    - weights: `canary_weight + stable_weight == 100` always (user traffic, not mirrored traffic);
    - `stable_deployment_version`: the version the stable Deployment must run (the canary's while
      Promoting, else `state.stable_version`); `canary_deployment_version`: None means scale the
      canary to zero (blue-green: stable moves only after the cutover to the preview);
    - `mirror_percent`: shadow only, percent of requests copied to the canary (responses dropped);
    - `route_matched_to_canary`: A/B only, header/cookie-matched requests go to the canary;
    - `reject_canary`: this transition judged or aborted the canary; tag the version rejected and,
      for a tracked alias, move the alias back to `state.stable_version`;
    - `requeue_after_seconds`: call `next_step` again after this long (None: nothing left to do);
    - `verdict`: the judge's verdict when this call judged a window (for `status.lastAnalysis`).
    """

    state: RolloutState
    events: tuple[Event, ...]
    conditions: tuple[Condition, ...]
    requeue_after_seconds: float | None
    mirror_percent: int = 0
    route_matched_to_canary: bool = False
    reject_canary: bool = False
    verdict: Verdict | None = None

    @property
    def canary_weight(self) -> int:
        return self.state.canary_weight

    @property
    def stable_weight(self) -> int:
        return self.state.stable_weight

    @property
    def stable_deployment_version(self) -> str:
        state = self.state
        # Blue-green moves stable only after users were cut over to the preview (no mixed versions).
        cut_over = state.strategy is not StrategyKind.BLUE_GREEN or state.canary_weight == 100
        if state.phase is Phase.PROMOTING and state.canary_version and cut_over:
            return state.canary_version
        return state.stable_version

    @property
    def canary_deployment_version(self) -> str | None:
        return None if self.state.is_terminal else self.state.canary_version

    @property
    def promote_canary(self) -> bool:
        """True while the stable Deployment should be moving to the canary's version."""
        return (
            self.state.phase is Phase.PROMOTING
            and self.stable_deployment_version != self.state.stable_version
        )

    @property
    def rolled_back(self) -> bool:
        return self.state.phase in (Phase.ROLLED_BACK, Phase.DEGRADED)


_ACTIVE = frozenset({Phase.PROGRESSING, Phase.PAUSED})


def decide(
    state: RolloutState,
    plan: RolloutPlan,
    events: tuple[Event, ...],
    requeue_after_seconds: float | None,
    *,
    reject_canary: bool = False,
) -> Decision:
    """Wrap a new state with the outputs that follow from it."""
    traffic_on = state.traffic_started_at is not None
    mirroring = plan.strategy is StrategyKind.SHADOW and traffic_on and state.phase in _ACTIVE
    matching = (
        plan.strategy is StrategyKind.AB_TEST
        and traffic_on
        and (state.phase in _ACTIVE or state.phase is Phase.PROMOTING)
    )
    return Decision(
        state=state,
        events=events,
        conditions=conditions_for(state),
        requeue_after_seconds=None
        if state.is_terminal or state.phase is Phase.PENDING
        else requeue_after_seconds,
        mirror_percent=plan.mirror_percent if mirroring else 0,
        route_matched_to_canary=matching,
        reject_canary=reject_canary,
    )


def conditions_for(state: RolloutState) -> tuple[Condition, ...]:
    """Ready, Progressing and Degraded, derived from the phase (so they never disagree with it)."""
    phase, message = state.phase, state.message
    in_progress = phase in (Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING)
    failed = phase in (Phase.ROLLED_BACK, Phase.DEGRADED)
    ready = Condition(
        "Ready",
        "True" if phase is Phase.SUCCEEDED else "False",
        "Succeeded" if phase is Phase.SUCCEEDED else ("RolloutInProgress" if in_progress else str(phase)),
        message,
    )
    progressing = Condition("Progressing", "True" if in_progress else "False", str(phase), message)
    degraded = Condition(
        "Degraded", "True" if failed else "False", str(phase) if failed else "Healthy", message
    )
    return (ready, progressing, degraded)


def conditions_status(
    conditions: tuple[Condition, ...], previous: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Conditions as `.status.conditions` entries; `lastTransitionTime` moves only when status flips."""
    before = {entry.get("type"): entry for entry in previous}
    stamped = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    entries = []
    for condition in conditions:
        old = before.get(condition.type, {})
        flipped = old.get("status") != condition.status or "lastTransitionTime" not in old
        entries.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": stamped if flipped else old["lastTransitionTime"],
            }
        )
    return entries
