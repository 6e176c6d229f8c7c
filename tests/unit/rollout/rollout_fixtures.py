"""Small builders shared by the rollout tests: a fixed clock, observations, steady traffic, a driver loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ferryman.rollout import (
    AnalysisPolicy,
    Decision,
    Observation,
    RolloutPlan,
    RolloutState,
    StrategyKind,
    TrackSample,
    next_step,
    start_rollout,
)

T0 = datetime(2026, 11, 23, 11, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def window(
    canary: tuple[float, float, float | None],
    stable: tuple[float, float, float | None] = (20_000, 60, 0),
    *,
    seconds: float = 30,
    custom: Mapping[str, float | None] | None = None,
) -> Observation:
    """One window of (requests, errors, slow) per track; slow None: no latency data."""
    return Observation(
        window_start=at(0),
        window_end=at(seconds),
        canary=TrackSample.counted(canary[0], canary[1], slow=canary[2]),
        stable=TrackSample.counted(stable[0], stable[1], slow=stable[2]),
        canary_ready=True,
        custom=dict(custom or {}),
    )


Counts = tuple[float, float, float | None]


@dataclass(frozen=True)
class Traffic:
    """Steady traffic as the handler's Prometheus queries would see it over [window start, now].

    `rps` requests per second in all are split by the canary's weight (canary strategy); a
    blue-green preview, a shadow or an A/B canary gets `stage_rps` once its stage started. Counts
    are exact shares (no noise), so a test states a rule, not a probability. `slow` None: the
    track has no latency data.
    """

    rps: float = 100.0
    canary_errors: float = 0.003
    stable_errors: float = 0.003
    canary_slow: float | None = 0.0
    stable_slow: float | None = 0.0
    stage_rps: float = 20.0
    ready: bool = True
    promoted: bool = True  # the stable Deployment serves the canary's version once asked to
    custom: Mapping[str, float | None] = field(default_factory=dict)
    error: str | None = None  # Prometheus could not be read

    def canary_rps(self, state: RolloutState) -> float:
        if state.strategy is StrategyKind.CANARY:
            return self.rps * state.canary_weight / 100
        return self.stage_rps if state.traffic_started_at is not None else 0.0

    def counts(self, state: RolloutState, seconds: float) -> tuple[Counts, Counts]:
        """(canary, stable) as (requests, errors, slow) over `seconds` of this traffic."""
        canary = self.canary_rps(state) * seconds
        stable = self.rps * state.stable_weight / 100 * seconds
        return _counts(canary, self.canary_errors, self.canary_slow), _counts(
            stable, self.stable_errors, self.stable_slow
        )

    def __call__(self, state: RolloutState, now: datetime) -> Observation:
        start = state.window_started_at or now
        canary, stable = self.counts(state, max(0.0, (now - start).total_seconds()))
        return self.observation(state, start, now, canary, stable)

    def observation(
        self, state: RolloutState, start: datetime, now: datetime, canary: Counts, stable: Counts
    ) -> Observation:
        return Observation(
            window_start=start,
            window_end=now,
            canary=TrackSample.counted(canary[0], canary[1], slow=canary[2], p99=0.02),
            stable=TrackSample.counted(stable[0], stable[1], slow=stable[2], p99=0.02),
            canary_ready=self.ready,
            custom=dict(self.custom),
            stable_serving_version=state.canary_version if self.promoted else state.stable_version,
            error=self.error,
        )


def _counts(requests: float, errors: float, slow: float | None) -> Counts:
    return requests, requests * errors, None if slow is None else requests * slow


def _add(a: Counts, b: Counts) -> Counts:
    slow = None if a[2] is None or b[2] is None else a[2] + b[2]
    return a[0] + b[0], a[1] + b[1], slow


@dataclass(frozen=True)
class Turning:
    """`before` until `moment`, then `after`: a window spanning the moment sees the sum of both."""

    before: Traffic
    after: Traffic
    moment: datetime

    def __call__(self, state: RolloutState, now: datetime) -> Observation:
        start = state.window_started_at or now
        split = min(now, max(start, self.moment))
        canary, stable = self.before.counts(state, (split - start).total_seconds())
        later_canary, later_stable = self.after.counts(state, (now - split).total_seconds())
        return self.after.observation(
            state, start, now, _add(canary, later_canary), _add(stable, later_stable)
        )


HEALTHY = Traffic()
QUIET = Traffic(rps=1.0)  # 5% of 1 req/s: 1.5 canary requests per 30 s window

Observer = Callable[[RolloutState, datetime], Observation | None]


@dataclass
class Run:
    """A rollout driven through `next_step` as the handler drives it, recording every decision.

    `follow` comes back when the Decision asks to (`requeue_after_seconds`); `tick` after a chosen
    delay (the default: one interval).
    """

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

    @property
    def state(self) -> RolloutState:
        return self.last.state

    def tick(self, observer: Observer, seconds: float | None = None) -> Decision:
        self.clock += self.plan.interval_seconds if seconds is None else seconds
        now = at(self.clock)
        decision = next_step(self.state, self.plan, self.policy, observer(self.state, now), now)
        self.decisions.append(decision)
        return decision

    def follow(self, observer: Observer) -> Decision:
        """Come back when the last Decision asked to (the handler's timer)."""
        requeue = self.last.requeue_after_seconds
        assert requeue is not None, f"nothing left to do in {self.state.phase}"
        return self.tick(observer, requeue)

    def until(self, done: Callable[[Decision], bool], observer: Observer, max_ticks: int = 2000) -> Decision:
        for _ in range(max_ticks):
            if done(self.last):
                return self.last
            self.follow(observer)
        raise AssertionError(f"not reached in {max_ticks} ticks: {self.state.phase} {self.state.message}")

    def until_done(self, observer: Observer, max_ticks: int = 2000) -> Decision:
        return self.until(lambda d: d.state.is_terminal, observer, max_ticks)

    def reasons(self) -> list[str]:
        return [event.reason for decision in self.decisions for event in decision.events]

    def weights(self) -> list[int]:
        """The canary weights in order, repeats collapsed."""
        seen = [d.canary_weight for d in self.decisions]
        return [w for i, w in enumerate(seen) if i == 0 or w != seen[i - 1]]
