"""How well the canary judge decides, through the real state machine, on simulated traffic.

    .venv/bin/python bench/judge.py                  # 1,000 rollouts per row, fixed seeds
    .venv/bin/python bench/judge.py --rollouts 200 --only pause

Rows run in parallel (one process per core); each row has its own fixed seed, so the figures do not
depend on the number of workers. The 24-hour rows take most of the time (about 10 minutes each).

Ferryman rows call `start_rollout`, then `next_step` whenever the Decision asks to be requeued (and
`apply_action` where a person would act), exactly as the handler does. Between calls requests arrive
as a Poisson process at the total rate; the weights split them between canary and stable (a
blue-green preview gets its own test traffic); each request fails with its track's error rate and
is slow (600 ms, over the 500 ms p99 limit) with its track's slow share; fast requests take 20 ms.
The Observation covers [state.window_started_at, now], as Prometheus would answer. Defaults unless
the row says (steps 5/25/50/100, interval 30s, minRequests 100, maxErrorRate 1%, maxLatencyP99 500ms).
Stable errs at 0.5% and is slow on 0.1% of requests.

Anchors, same traffic:
- flagger: Flagger's default analysis as its docs show it: stepWeight 10 to maxWeight 50, interval
  1m, threshold 5 failed checks, request-success-rate >= 99% and request-duration p99 <= 500ms from
  its built-in queries over the interval; a window without canary requests ("no values found")
  counts as a failed check; then promotion.
- threshold: our plan with the judge replaced by fixed thresholds (error rate > 1% or p99 > 500ms
  fails a window of >= minRequests, failureLimit 2): what the statistics add over thresholds.

Goals (issue 8): healthy canary false rollback < 1% in every scenario; 2x error rate caught >= 95%
at 50 req/s with the default plan.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from ferryman.rollout import (
    AnalysisPolicy,
    Decision,
    Observation,
    PauseReason,
    PauseStep,
    Phase,
    RolloutAction,
    RolloutPlan,
    RolloutState,
    StrategyKind,
    TrackSample,
    WeightStep,
    apply_action,
    next_step,
    start_rollout,
)
from ferryman.rollout.formatting import format_duration, format_percent

STABLE_ERRORS = 0.005
STABLE_SLOW = 0.001
SLOW_SECONDS, FAST_SECONDS = 0.6, 0.02
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 24 * 3600.0


@dataclass(frozen=True)
class Track:
    """How one track behaves: error rate, slow share, and how its errors are spread over its pods."""

    errors: float = STABLE_ERRORS
    slow: float = STABLE_SLOW
    pod_skew: tuple[float, ...] = (1.0,)  # relative error rate of each pod (requests spread evenly)


@dataclass
class Segment:
    start: datetime
    canary: tuple[int, int, int]  # requests, errors, slow
    stable: tuple[int, int, int]


def sample(rng: np.random.Generator, rps: float, seconds: float, track: Track) -> tuple[int, int, int]:
    requests = int(rng.poisson(rps * seconds))
    per_pod = rng.multinomial(requests, [1 / len(track.pod_skew)] * len(track.pod_skew))
    errors = sum(
        int(rng.binomial(n, min(1.0, track.errors * skew)))
        for n, skew in zip(per_pod, track.pod_skew, strict=True)
    )
    return requests, errors, int(rng.binomial(requests, track.slow))


@dataclass(frozen=True)
class Scenario:
    label: str
    rps: float
    canary: Track
    plan: RolloutPlan = field(default_factory=RolloutPlan)
    policy: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    preview_rps: float = 0.0  # blue-green: test traffic to the preview
    person_after: float | None = None  # a person resumes / promotes after this long in Paused
    anchor: str | None = None  # None: Ferryman; "flagger" or "threshold"
    stable: Track = field(default_factory=Track)

    @property
    def healthy(self) -> bool:
        return self.canary.errors <= self.stable.errors and self.canary.slow <= self.stable.slow * 1.0001


@dataclass
class Result:
    phase: Phase
    seconds_to_weight_zero: float | None
    seconds_total: float


def observe(state: RolloutState, segments: list[Segment], now: datetime) -> Observation:
    window_start = state.window_started_at or now
    inside = [s for s in segments if s.start >= window_start]

    def track(pick: Callable[[Segment], tuple[int, int, int]]) -> TrackSample:
        requests = sum(pick(s)[0] for s in inside)
        slow = sum(pick(s)[2] for s in inside)
        p99 = SLOW_SECONDS if requests and slow / requests > 0.01 else FAST_SECONDS
        return TrackSample.counted(requests, sum(pick(s)[1] for s in inside), slow=slow, p99=p99)

    return Observation(
        window_start, now, track(lambda s: s.canary), track(lambda s: s.stable), canary_ready=True,
        stable_serving_version=state.canary_version,
    )  # fmt: skip


def simulate(rng: np.random.Generator, scenario: Scenario) -> Result:
    """One rollout through the real state machine, start to terminal phase."""
    plan = scenario.plan
    decision = start_rollout(plan, "6", "7", T0)
    state, now, segments = decision.state, T0, []
    paused_since: datetime | None = None
    while not state.is_terminal:
        step = decision.requeue_after_seconds
        assert step is not None
        segments.append(traffic(rng, scenario, state, now, step))
        segments = [
            s for s in segments if state.window_started_at is None or s.start >= state.window_started_at
        ]
        now += timedelta(seconds=step)
        decision = _person(state, plan, scenario, paused_since, now) or next_step(
            state, plan, scenario.policy, observe(state, segments, now), now
        )
        paused_since = (paused_since or now) if decision.state.phase is Phase.PAUSED else None
        state = decision.state
    took = None
    if state.phase is Phase.ROLLED_BACK and state.traffic_started_at is not None:
        took = (now - state.traffic_started_at).total_seconds()
    return Result(state.phase, took, (now - T0).total_seconds())


def _person(
    state: RolloutState, plan: RolloutPlan, scenario: Scenario, paused_since: datetime | None, now: datetime
) -> Decision | None:
    """A person answers a pause after `person_after` seconds: resume a step, promote a stage."""
    if state.phase is not Phase.PAUSED or paused_since is None or scenario.person_after is None:
        return None
    if (now - paused_since).total_seconds() < scenario.person_after:
        return None
    action = RolloutAction.RESUME if state.pause_reason is PauseReason.STEP else RolloutAction.PROMOTE
    return apply_action(state, plan, action, now)


def traffic(
    rng: np.random.Generator, scenario: Scenario, state: RolloutState, start: datetime, seconds: float
) -> Segment:
    weight = state.canary_weight
    if scenario.plan.strategy is StrategyKind.BLUE_GREEN and state.traffic_started_at is not None:
        canary = sample(rng, scenario.preview_rps, seconds, scenario.canary)
    else:
        canary = sample(rng, scenario.rps * weight / 100, seconds, scenario.canary)
    stable = sample(rng, scenario.rps * (100 - weight) / 100, seconds, scenario.stable)
    return Segment(start, canary, stable)


def simulate_threshold_anchor(rng: np.random.Generator, scenario: Scenario, flagger: bool) -> Result:
    """Fixed thresholds per window, failed checks never reset (Flagger's counter, our failureLimit)."""
    weights = (10, 20, 30, 40, 50) if flagger else (5, 25, 50, 100)
    interval = 60.0 if flagger else scenario.plan.interval_seconds
    limit = 5 if flagger else scenario.policy.failure_limit
    min_requests = 1 if flagger else scenario.policy.min_requests
    failed, clock, index = 0, 0.0, 0
    window = np.zeros(3, dtype=int)
    while index < len(weights):
        weight = weights[index]
        clock += interval
        window += sample(rng, scenario.rps * weight / 100, interval, scenario.canary)
        requests, errors, slow = (int(v) for v in window)
        if requests < min_requests:
            if flagger:  # "no values found": a failed check
                failed += 1
            else:
                continue
        elif errors / requests > scenario.policy.max_error_rate or slow / requests > 0.01:
            failed += 1
        else:
            index += 1
        window[:] = 0
        if failed >= limit:
            return Result(Phase.ROLLED_BACK, clock, clock)
    return Result(Phase.SUCCEEDED, None, clock)


@dataclass
class Row:
    scenario: Scenario
    rolled_back: float
    degraded: float
    median_seconds: float | None
    p90_seconds: float | None
    median_total_seconds: float


def run_row(scenario: Scenario, rollouts: int, seed: int) -> Row:
    rng = np.random.default_rng(seed)
    if scenario.anchor is None:
        results = [simulate(rng, scenario) for _ in range(rollouts)]
    else:
        results = [
            simulate_threshold_anchor(rng, scenario, scenario.anchor == "flagger") for _ in range(rollouts)
        ]
    times = sorted(r.seconds_to_weight_zero for r in results if r.seconds_to_weight_zero is not None)
    return Row(
        scenario,
        sum(r.phase is Phase.ROLLED_BACK for r in results) / rollouts,
        sum(r.phase is Phase.DEGRADED for r in results) / rollouts,
        statistics.median_low(times) if times else None,
        times[int(0.9 * (len(times) - 1))] if times else None,
        statistics.median_low(r.seconds_total for r in results),
    )


def describe_canary(track: Track) -> str:
    parts = []
    if track.errors != STABLE_ERRORS or len(track.pod_skew) > 1:
        skew = " on 1 of 2 pods" if len(track.pod_skew) > 1 else ""
        parts.append(f"err {format_percent(track.errors)}{skew}")
    if track.slow != STABLE_SLOW:
        parts.append(f"slow {format_percent(track.slow)}")
    return ", ".join(parts) or "healthy"


def print_table(rows: list[Row], rollouts: int) -> None:
    print(
        f"{rollouts} rollouts per row; stable: {format_percent(STABLE_ERRORS)} errors, "
        f"{format_percent(STABLE_SLOW)} slower than 500ms; default settings unless the row says"
    )
    print(f"{'scenario':<30}{'judge':<10}{'rate':>7}  {'canary':<22}{'rolled back':>12}{'degraded':>10}"
          f"{'weight 0 after (med/p90)':>26}{'ends after (med)':>18}")  # fmt: skip
    for row in rows:
        s = row.scenario
        times = "-"
        if row.median_seconds is not None and row.p90_seconds is not None:
            times = f"{format_duration(row.median_seconds)} / {format_duration(row.p90_seconds)}"
        verdict = "FALSE" if s.healthy else "caught"
        print(
            f"{s.label:<30}{s.anchor or 'ferryman':<10}{s.rps:>5g}/s  {describe_canary(s.canary):<22}"
            f"{format_percent(row.rolled_back):>7} {verdict:<5}{format_percent(row.degraded):>9}"
            f"{times:>26}{format_duration(row.median_total_seconds):>18}"
        )


DEFAULT_SPLIT_STEPS = (WeightStep(5), WeightStep(25), WeightStep(50))
PAUSED_PLAN = RolloutPlan(
    steps=(WeightStep(5), WeightStep(25), PauseStep(None), WeightStep(50), WeightStep(100))
)
BLUE_GREEN = RolloutPlan(strategy=StrategyKind.BLUE_GREEN)


def scenarios() -> list[Scenario]:
    healthy, bad2, bad5, bad10 = Track(), Track(errors=0.01), Track(errors=0.025), Track(errors=0.05)
    slow = Track(slow=0.02)
    rows = [Scenario("default plan", rps, healthy) for rps in (2, 5, 50, 500)]
    rows += [
        Scenario("default plan", rps, healthy, anchor=a) for a in ("flagger", "threshold") for rps in (5, 50)
    ]
    rows += [Scenario("default plan", rps, bad) for bad in (bad2, bad5, bad10) for rps in (5, 50, 500)]
    rows += [Scenario("default plan", 50, bad2, anchor=a) for a in ("flagger", "threshold")]
    rows += [
        Scenario("pause {} held 24h", 50, healthy, PAUSED_PLAN, person_after=DAY),
        Scenario("pause {} held 24h", 50, bad2, PAUSED_PLAN, person_after=DAY),
        Scenario("blue-green, promote after 24h", 50, healthy, BLUE_GREEN, preview_rps=5, person_after=DAY),
        Scenario("errors on one canary pod", 50, Track(pod_skew=(2.0, 0.0))),
        Scenario("errors on one canary pod", 50, Track(errors=0.01, pod_skew=(2.0, 0.0))),
        Scenario("latency only", 50, Track(slow=STABLE_SLOW)),
        Scenario("latency only", 50, slow),
        Scenario("latency only", 5, slow),
        Scenario("latency only", 50, slow, anchor="flagger"),
        Scenario("half of requests fail", 100, Track(errors=0.5)),
    ]
    # Stable breaks the p99 limit as well (3% of requests slow on both tracks): not the canary's doing.
    both_slow = Track(slow=0.03)
    rows += [Scenario("stable as slow (3%)", rps, both_slow, stable=both_slow) for rps in (2, 5, 50)]
    # A last split step that leaves stable a few percent measures stable's share on few requests.
    for weight in (90, 95, 99):
        plan = RolloutPlan(steps=(*DEFAULT_SPLIT_STEPS, WeightStep(weight), WeightStep(100)))
        rows += [Scenario(f"last split step {weight}%", 50, track, plan) for track in (healthy, bad2)]
    last_99 = RolloutPlan(steps=(WeightStep(99), WeightStep(100)))
    rows.append(Scenario("stable as slow (3%), 99/100", 1, both_slow, last_99, stable=both_slow))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--only", default="", help="run only rows whose label contains this text")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="rows run in parallel")
    args = parser.parse_args()
    started = time.perf_counter()
    chosen = [(s, args.rollouts, seed) for seed, s in enumerate(scenarios()) if args.only in s.label]
    with multiprocessing.Pool(args.workers) as pool:
        rows = pool.starmap(run_row, chosen)
    print_table(rows, args.rollouts)
    print(f"(ran in {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
