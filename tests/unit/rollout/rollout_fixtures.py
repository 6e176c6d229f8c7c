"""Small builders shared by the rollout tests: a fixed clock, observations, and a driver loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ferryman.rollout import (
    AnalysisPolicy,
    Decision,
    Observation,
    RolloutPlan,
    RolloutState,
    TrackSample,
    next_step,
    start_rollout,
)

T0 = datetime(2026, 11, 23, 11, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def observe(
    state: RolloutState,
    now: datetime,
    *,
    canary: tuple[float, float] = (1000, 3),
    stable: tuple[float, float] = (10000, 30),
    canary_p99: float | None = 0.02,
    stable_p99: float | None = 0.02,
    ready: bool = True,
    custom: dict[str, float | None] | None = None,
    stable_serving: str | None = None,
) -> Observation:
    """An observation over the window the state asks for (defaults: healthy, equal error rates)."""
    return Observation(
        window_start=state.window_started_at or now,
        window_end=now,
        canary=TrackSample(canary[0], canary[1], canary_p99),
        stable=TrackSample(stable[0], stable[1], stable_p99),
        canary_ready=ready,
        custom=custom or {},
        stable_serving_version=stable_serving,
    )


Observer = Callable[[RolloutState, datetime], Observation | None]


def healthy(state: RolloutState, now: datetime) -> Observation:
    """Healthy canary; confirms promotion as soon as it is asked for."""
    return observe(state, now, stable_serving=state.canary_version)


@dataclass
class Run:
    """A rollout driven through `next_step` every `step_seconds`, recording every decision."""

    plan: RolloutPlan = field(default_factory=RolloutPlan)
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    decisions: list[Decision] = field(default_factory=list)
    clock: float = 0.0

    def start(self) -> Decision:
        decision = start_rollout(self.plan, "6", "7", at(self.clock))
        self.decisions.append(decision)
        return decision

    @property
    def last(self) -> Decision:
        return self.decisions[-1]

    def tick(self, observer: Observer, seconds: float | None = None) -> Decision:
        self.clock += self.plan.interval_seconds if seconds is None else seconds
        now = at(self.clock)
        decision = next_step(self.last.state, self.plan, self.policy, observer(self.last.state, now), now)
        self.decisions.append(decision)
        return decision

    def until_done(self, observer: Observer, max_ticks: int = 500, seconds: float | None = None) -> Decision:
        for _ in range(max_ticks):
            if self.last.state.is_terminal:
                break
            self.tick(observer, seconds)
        return self.last

    def reasons(self) -> list[str]:
        return [event.reason for decision in self.decisions for event in decision.events]
