"""What the handler must make true after a transition: traffic, Deployments, status, Events.

A Decision is declarative (weights, which version each Deployment runs) so that applying it twice,
or after a crash, is harmless; Events, `reject_canary` and `verdict` mark the transition itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ferryman.api.vocabulary import Outcome, Phase, StrategyKind
from ferryman.rollout.judge import Verdict
from ferryman.rollout.state import RolloutState


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
    """The new state plus what to do about it. The handler applies every field:

    - weights: `canary_weight + stable_weight == 100` (user traffic, not mirrored traffic);
    - `stable_deployment_version` / `canary_deployment_version`: what each Deployment runs (canary
      None: leave its pods as they are until `scale_canary_down`);
    - `mirror_percent` (shadow) and `route_matched_to_canary` (A/B): the route's extra rules;
    - `reject_canary`: this transition judged (or aborted) the canary: status records the version
      as rejected, so the same spec never starts it again;
    - `requeue_after_seconds`: call `next_step` no sooner than this (None: nothing left to do);
    - `verdict`: a judged window worth recording in `status.lastAnalysis` (None: nothing new).
    """

    state: RolloutState
    events: tuple[Event, ...]
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
    def scale_canary_down(self) -> bool:
        """The rollout is over and the canary's grace period too: its pods may go."""
        return self.state.is_terminal and self.state.canary_retire_at is None

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return conditions_for(self.state)


def conditions_for(state: RolloutState) -> tuple[Condition, ...]:
    """Ready, Progressing, Degraded (from the phase, so they never disagree) and MetricsAvailable."""
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
    metrics = Condition(
        "MetricsAvailable",
        "False" if state.analysis_errors else "True",
        "MetricsUnavailable" if state.analysis_errors else "MetricsRead",
        message if state.analysis_errors else "the last metric reads succeeded",
    )
    return (ready, progressing, degraded, metrics)


def worth_recording(verdict: Verdict, before: RolloutState) -> bool:
    """A pass or fail always; an inconclusive window only when it starts a waiting stretch."""
    return verdict.outcome is not Outcome.INCONCLUSIVE or before.last_verdict is not Outcome.INCONCLUSIVE
