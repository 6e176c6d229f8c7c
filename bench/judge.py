"""How well the canary judge decides, through the real state machine, on simulated traffic.

    .venv/bin/python bench/judge.py               # 1,000 rollouts per row, fixed seeds
    .venv/bin/python bench/judge.py --rollouts 200

Each rollout calls `start_rollout` and then `next_step` whenever the Decision asks to be requeued,
exactly as the handler will. Between calls, requests arrive as a Poisson process at the total rate;
the current weights split them between canary and stable; each request fails with its track's error
rate. The Observation covers [state.window_started_at, now], the window the state asks for.
Defaults everywhere: steps 5/25/50/100, interval 30s, minRequests 100, failureLimit 2, maxErrorRate
1%, significance 0.01. Stable errs at 0.5%.

Rows (label "minReq 2000" raises minRequests from 100 to 2000 to show the power knob):
- healthy canary (same 0.5% error rate): false rollback rate (goal < 1%) at low traffic;
- bad canary at 2x, 5x, 10x the error rate: detection rate and time from its first user request to
  weight 0 (goal <= 60 s with default settings, given enough traffic to judge every interval);
- "weight 0 after": from the bad canary's first user request to the Decision that sets weight 0;
  "ends after": from start_rollout to Succeeded / RolledBack / Degraded;
- anchor, same runs: a threshold-only judge (Flagger-style: fail any window whose canary error rate
  is above maxErrorRate, no minimum sample, no comparison with stable).

Issue 5's goals: false rollbacks < 1%, detection of 2x reported, time to weight 0 <= 60 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from ferryman.rollout import (
    AnalysisPolicy,
    Observation,
    Outcome,
    Phase,
    RolloutPlan,
    RolloutState,
    TrackSample,
    Verdict,
    judge,
    next_step,
    start_rollout,
    transitions,
)
from ferryman.rollout.formatting import format_duration, format_percent

BASE_ERROR_RATE = 0.005
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MAX_SIMULATED_SECONDS = 6 * 3600

JudgeFn = Callable[[Observation, AnalysisPolicy], Verdict]


def threshold_only_judge(observation: Observation, policy: AnalysisPolicy) -> Verdict:
    """The anchor: fail whenever the canary's window error rate is above the limit."""
    requests = observation.canary.request_count
    if requests == 0:
        return Verdict(Outcome.INCONCLUSIVE, "no canary requests")
    rate = observation.canary.error_count / requests
    outcome = Outcome.FAIL if rate > policy.max_error_rate else Outcome.PASS
    return Verdict(outcome, f"canary error rate {format_percent(rate)}")


@dataclass
class Segment:
    start: datetime
    canary_requests: int
    canary_errors: int
    stable_requests: int
    stable_errors: int


@dataclass
class Result:
    phase: Phase
    seconds_to_weight_zero: float | None  # from the canary's first user traffic, for rollbacks
    seconds_total: float  # from start_rollout to the terminal phase


def simulate(
    rng: np.random.Generator, total_rps: float, canary_error_rate: float, policy: AnalysisPolicy
) -> Result:
    """One rollout, start to terminal phase."""
    plan = RolloutPlan()
    decision = start_rollout(plan, "6", "7", T0)
    state, now, segments = decision.state, T0, []
    while not state.is_terminal:
        assert decision.requeue_after_seconds is not None
        step = decision.requeue_after_seconds
        segments.append(traffic(rng, now, step, total_rps, state.canary_weight, canary_error_rate))
        now += timedelta(seconds=step)
        if (now - T0).total_seconds() > MAX_SIMULATED_SECONDS:
            raise RuntimeError(f"rollout still {state.phase} after {MAX_SIMULATED_SECONDS}s")
        decision = next_step(state, plan, policy, observe(state, segments, now), now)
        state = decision.state
    took = None
    if state.phase is Phase.ROLLED_BACK and state.traffic_started_at is not None:
        took = (now - state.traffic_started_at).total_seconds()
    return Result(state.phase, took, (now - T0).total_seconds())


def traffic(
    rng: np.random.Generator,
    start: datetime,
    seconds: float,
    rps: float,
    weight: int,
    canary_error_rate: float,
) -> Segment:
    canary_requests = int(rng.poisson(rps * seconds * weight / 100))
    stable_requests = int(rng.poisson(rps * seconds * (100 - weight) / 100))
    return Segment(
        start,
        canary_requests,
        int(rng.binomial(canary_requests, min(1.0, canary_error_rate))),
        stable_requests,
        int(rng.binomial(stable_requests, BASE_ERROR_RATE)),
    )


def observe(state: RolloutState, segments: list[Segment], now: datetime) -> Observation:
    """What Prometheus would answer for the window the state asks for (canary Ready, p99 healthy)."""
    window_start = state.window_started_at or now
    inside = [s for s in segments if s.start >= window_start]
    return Observation(
        window_start=window_start,
        window_end=now,
        canary=TrackSample(
            sum(s.canary_requests for s in inside), sum(s.canary_errors for s in inside), 0.02
        ),
        stable=TrackSample(
            sum(s.stable_requests for s in inside), sum(s.stable_errors for s in inside), 0.02
        ),
        canary_ready=True,
        stable_serving_version=state.canary_version,
    )


@dataclass
class Row:
    label: str
    rps: float
    multiplier: float
    rolled_back: float
    degraded: float
    median_seconds: float | None
    p90_seconds: float | None
    median_total_seconds: float


@dataclass(frozen=True)
class Scenario:
    label: str
    rps: float
    multiplier: float
    judge_fn: JudgeFn = judge
    min_requests: int = 100


def run_row(scenario: Scenario, rollouts: int, seed: int) -> Row:
    transitions.judge = scenario.judge_fn  # the bench swaps in the anchor judge; the product never does
    rng = np.random.default_rng(seed)
    policy = AnalysisPolicy(min_requests=scenario.min_requests)
    rps, multiplier, label = scenario.rps, scenario.multiplier, scenario.label
    results = [simulate(rng, rps, BASE_ERROR_RATE * multiplier, policy) for _ in range(rollouts)]
    times = sorted(r.seconds_to_weight_zero for r in results if r.seconds_to_weight_zero is not None)
    return Row(
        label,
        rps,
        multiplier,
        sum(r.phase is Phase.ROLLED_BACK for r in results) / rollouts,
        sum(r.phase is Phase.DEGRADED for r in results) / rollouts,
        statistics.median_low(times) if times else None,
        times[int(0.9 * (len(times) - 1))] if times else None,
        statistics.median_low(r.seconds_total for r in results),
    )


def print_table(rows: list[Row], rollouts: int) -> None:
    print(
        f"{rollouts} rollouts per row; stable error rate {format_percent(BASE_ERROR_RATE)}; default settings"
    )
    header = f"{'judge':<16}{'traffic':>9}{'canary err':>12}{'rolled back':>13}{'no-traffic':>12}"
    print(header + f"{'weight 0 after (median / p90)':>32}{'ends after (median)':>21}")
    for row in rows:
        times = "-"
        if row.median_seconds is not None and row.p90_seconds is not None:
            times = f"{format_duration(row.median_seconds)} / {format_duration(row.p90_seconds)}"
        canary = f"{format_percent(BASE_ERROR_RATE * row.multiplier)} ({row.multiplier:g}x)"
        print(
            f"{row.label:<16}{row.rps:>6g}/s{canary:>14}{format_percent(row.rolled_back):>11}"
            f"{format_percent(row.degraded):>12}{times:>32}{format_duration(row.median_total_seconds):>21}"
        )


SCENARIOS = [
    Scenario("ferryman", 2, 1),
    Scenario("ferryman", 5, 1),
    Scenario("ferryman", 50, 1),
    Scenario("ferryman", 500, 1),
    Scenario("threshold-only", 5, 1, threshold_only_judge),
    Scenario("threshold-only", 50, 1, threshold_only_judge),
    Scenario("ferryman", 5, 2),
    Scenario("ferryman", 50, 2),
    Scenario("ferryman", 500, 2),
    Scenario("ferryman", 5, 5),
    Scenario("ferryman", 50, 5),
    Scenario("ferryman", 500, 5),
    Scenario("ferryman", 5, 10),
    Scenario("ferryman", 50, 10),
    Scenario("ferryman", 500, 10),
    Scenario("threshold-only", 500, 10, threshold_only_judge),
    Scenario("minReq 2000", 50, 1, min_requests=2000),
    Scenario("minReq 2000", 50, 2, min_requests=2000),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rollouts", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [run_row(scenario, args.rollouts, seed) for seed, scenario in enumerate(SCENARIOS)]
    print_table(rows, args.rollouts)
    print(f"(ran in {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
