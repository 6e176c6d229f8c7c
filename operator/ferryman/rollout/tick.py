"""One call of the state machine as a value: the state, what the user asked for, what was seen, when.

Every flow function takes a Tick and returns a Decision (or, from the analysis, a `Passed` window),
so no function carries the same six arguments and no callback decides what happens after a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ferryman.api.vocabulary import Phase, StrategyKind
from ferryman.rollout.decision import Decision, Event
from ferryman.rollout.judge import Verdict
from ferryman.rollout.observation import Observation
from ferryman.rollout.plan import AnalysisPolicy, RolloutPlan
from ferryman.rollout.state import RolloutState

# How often to look again while waiting on Kubernetes (readiness, promotion), not on metrics.
READINESS_POLL_SECONDS = 5.0
# While the canary has traffic, look at the evidence this often: a decisive failure needs no full window.
PEEK_SECONDS = 5.0
# After a failed metric read, try again this soon (Argo Rollouts retries provider errors every 10 s).
ANALYSIS_ERROR_RETRY_SECONDS = 10.0
# After a manual action, come back quickly so the follow-up (e.g. a weight shift) is not delayed.
ACTION_FOLLOW_UP_SECONDS = 1.0
# Never ask to be requeued sooner than this: a tight loop helps nobody.
MIN_REQUEUE_SECONDS = 1.0

_ACTIVE = frozenset({Phase.PROGRESSING, Phase.PAUSED})


def canary_has_traffic(plan: RolloutPlan, state: RolloutState) -> bool:
    if plan.strategy is StrategyKind.CANARY:
        return state.canary_weight > 0
    return state.traffic_started_at is not None


def look_again_seconds(plan: RolloutPlan, state: RolloutState) -> float:
    """When to look again: every PEEK_SECONDS while a progressing canary has traffic, so decisive harm
    is found without waiting for the window to end; else once an interval. A person's pause may last
    days: reading Prometheus every interval then (not every 5 s) costs six times fewer queries, and
    a canary that turns bad is still rolled back within one interval."""
    if state.phase is Phase.PROGRESSING and canary_has_traffic(plan, state):
        return min(plan.interval_seconds, PEEK_SECONDS)
    return plan.interval_seconds


def seconds_since(moment: datetime | None, now: datetime) -> float:
    """Elapsed seconds, 0 for a missing or future moment (clock skew must not extend deadlines)."""
    if moment is None:
        return 0.0
    return max(0.0, (now - moment).total_seconds())


@dataclass(frozen=True, slots=True)
class Tick:
    state: RolloutState
    plan: RolloutPlan
    policy: AnalysisPolicy
    observation: Observation | None
    now: datetime

    @property
    def ready(self) -> bool:
        return self.observation is not None and self.observation.canary_ready

    @property
    def peek_seconds(self) -> float:
        return look_again_seconds(self.plan, self.state)

    @property
    def poll_seconds(self) -> float:
        return max(MIN_REQUEUE_SECONDS, min(self.plan.interval_seconds, READINESS_POLL_SECONDS))

    def since(self, moment: datetime | None) -> float:
        return seconds_since(moment, self.now)

    def with_state(self, state: RolloutState) -> Tick:
        return replace(self, state=state)

    def decide(
        self,
        state: RolloutState,
        events: tuple[Event, ...],
        requeue_after_seconds: float | None,
        *,
        reject_canary: bool = False,
        verdict: Verdict | None = None,
    ) -> Decision:
        return decide(self.plan, state, events, requeue_after_seconds, reject_canary, verdict)

    def hold(self, requeue: float, message: str | None = None, state: RolloutState | None = None) -> Decision:
        """Nothing changes but (maybe) the message; come back later. Waiting is not a transition: no Event."""
        held = state or self.state
        if message is not None:
            held = replace(held, message=message)
        return self.decide(held, (), max(MIN_REQUEUE_SECONDS, requeue))


def decide(
    plan: RolloutPlan,
    state: RolloutState,
    events: tuple[Event, ...],
    requeue_after_seconds: float | None,
    reject_canary: bool = False,
    verdict: Verdict | None = None,
) -> Decision:
    """Wrap a new state with the outputs that follow from it."""
    traffic_on = state.traffic_started_at is not None
    mirroring = plan.strategy is StrategyKind.SHADOW and traffic_on and state.phase in _ACTIVE
    matching = (
        plan.strategy is StrategyKind.AB_TEST
        and traffic_on
        and (state.phase in _ACTIVE or state.phase is Phase.PROMOTING)
    )
    if state.is_terminal:
        retiring = state.canary_retire_at is not None
        requeue_after_seconds = (
            (requeue_after_seconds or plan.canary_scale_down_delay_seconds) if retiring else None
        )
    elif state.phase is Phase.PENDING:
        requeue_after_seconds = None
    return Decision(
        state=state,
        events=events,
        requeue_after_seconds=requeue_after_seconds,
        mirror_percent=plan.mirror_percent if mirroring else 0,
        route_matched_to_canary=matching,
        reject_canary=reject_canary,
        verdict=verdict,
    )
