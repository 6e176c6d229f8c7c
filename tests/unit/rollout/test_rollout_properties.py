"""Properties of the state machine over generated plans, states, observations, actions and clocks.

From any state and any sequence: weights stay within 0..100 and sum to 100; a not-Ready canary
never gains weight; terminal phases absorb; every transition emits an Event and conditions; the
status round-trips (the sequence continues from the round-tripped state, as after a crash); and,
given a person who answers pauses, every rollout ends within a bound set by the deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollout_fixtures import T0, at

from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    Decision,
    Evidence,
    Observation,
    Outcome,
    PauseReason,
    PauseStep,
    Phase,
    RolloutAction,
    RolloutPlan,
    RolloutState,
    Step,
    StrategyKind,
    TrackSample,
    WeightStep,
    apply_action,
    next_step,
    start_rollout,
)

pytestmark = pytest.mark.unit

PROPERTY_SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

steps = st.lists(
    st.one_of(
        st.builds(WeightStep, st.integers(0, 100)),
        st.builds(PauseStep, st.one_of(st.none(), st.floats(0, 300))),
    ),
    min_size=1,
    max_size=5,
).map(tuple)

plans = st.builds(
    RolloutPlan,
    strategy=st.sampled_from(StrategyKind),
    steps=steps,
    interval_seconds=st.floats(1, 120),
    progress_deadline_seconds=st.floats(1, 900),
    no_traffic_deadline_seconds=st.floats(1, 900),
    auto_promote=st.booleans(),
    stage_duration_seconds=st.floats(0, 600),
    mirror_percent=st.integers(0, 100),
)

policies = st.builds(
    AnalysisPolicy,
    min_requests=st.integers(1, 300),
    failure_limit=st.integers(1, 4),
    max_latency_p99_seconds=st.one_of(st.none(), st.floats(0.01, 1)),
    custom_checks=st.sampled_from([(), (CustomCheck("accuracy", min_value=0.9),)]),
)


@dataclass(frozen=True)
class WorldFacts:
    """What the handler would observe at one tick (counts, slow shares, readiness, promotion progress)."""

    canary_requests: int
    canary_error_share: float
    stable_requests: int
    stable_error_share: float
    canary_slow_share: float | None  # None: no latency data
    ready: bool
    stable_serves_canary: bool
    accuracy: float | None
    read: str  # "ok", "missing" (no observation at all) or "error" (Prometheus unreachable)


# Everything but the request counts comes from a precomputed grid: one draw instead of seven keeps
# Hypothesis' own overhead (not the state machine) from dominating the run time.
PROFILES = [
    (canary_share, stable_share, slow, ready, serves, accuracy, read)
    for canary_share in (0.0, 0.003, 0.05, 0.5)
    for stable_share in (0.0, 0.003, 0.05)
    for slow in (None, 0.0, 0.03)
    for ready in (True, False)
    for serves in (True, False)
    for accuracy in (None, 0.95, 0.6)
    for read in ("ok", "missing", "error")
]


def world_facts(canary_requests: int, stable_requests: int, profile: tuple) -> WorldFacts:
    canary_share, stable_share, slow, ready, serves, accuracy, read = profile
    return WorldFacts(
        canary_requests, canary_share, stable_requests, stable_share, slow, ready, serves, accuracy, read
    )


facts = st.builds(world_facts, st.integers(0, 3000), st.integers(0, 30000), st.sampled_from(PROFILES))

moves = st.lists(
    st.tuples(st.floats(0, 200), facts, st.one_of(st.none(), st.sampled_from(RolloutAction))),
    min_size=1,
    max_size=25,
)


def observation(state: RolloutState, facts: WorldFacts, now_seconds: float) -> Observation | None:
    if facts.read == "missing":
        return None
    now = at(now_seconds)
    canary, stable = facts.canary_requests, facts.stable_requests
    slow = None if facts.canary_slow_share is None else canary * facts.canary_slow_share
    return Observation(
        window_start=state.window_started_at or now,
        window_end=now,
        canary=TrackSample.counted(canary, canary * facts.canary_error_share, slow=slow),
        stable=TrackSample.counted(stable, stable * facts.stable_error_share, slow=stable * 0.001),
        canary_ready=facts.ready,
        custom={"accuracy": facts.accuracy},
        stable_serving_version=state.canary_version if facts.stable_serves_canary else state.stable_version,
        error="connection refused" if facts.read == "error" else None,
    )


def check_decision(
    before: RolloutState, decision: Decision, plan: RolloutPlan, saw_ready: bool | None, *, action: bool
) -> None:
    """The invariants every single decision must keep."""
    after = decision.state
    assert 0 <= decision.canary_weight <= 100
    assert decision.canary_weight + decision.stable_weight == 100
    assert 0 <= decision.mirror_percent <= 100
    assert decision.mirror_percent == 0 or plan.strategy is StrategyKind.SHADOW
    assert not decision.route_matched_to_canary or plan.strategy is StrategyKind.AB_TEST
    assert sorted(c.type for c in decision.conditions) == [
        "Degraded",
        "MetricsAvailable",
        "Progressing",
        "Ready",
    ]
    if saw_ready is False:
        assert decision.canary_weight <= before.canary_weight, "weight moved to a canary that is not Ready"
    if plan.strategy is not StrategyKind.CANARY and after.canary_weight > before.canary_weight:
        # Shadow and A/B never give the candidate user weight; blue-green only at its cutover.
        assert plan.strategy is StrategyKind.BLUE_GREEN
        assert after.phase is Phase.PROMOTING and after.canary_weight == 100
    if before.phase is Phase.PENDING:
        assert after == before and decision.requeue_after_seconds is None
    if before.is_terminal:
        # Absorbing: only the canary's retirement moves on (the scale-down delay ends).
        assert replace(after, canary_retire_at=before.canary_retire_at) == before
        assert action or decision.events == ()
    if decision.reject_canary:
        assert after.phase is Phase.ROLLED_BACK and not before.is_terminal, "rejected without rolling back"
    if decision.verdict is not None and decision.verdict.outcome is Outcome.INCONCLUSIVE:
        assert before.last_verdict is not Outcome.INCONCLUSIVE, "an inconclusive verdict recorded twice"
    changed = (before.phase, before.canary_weight, before.current_step_index, before.failed_checks) != (
        after.phase,
        after.canary_weight,
        after.current_step_index,
        after.failed_checks,
    )
    if changed:
        assert decision.events, f"silent transition {before.phase} -> {after.phase}"
    if after.is_terminal:
        assert (decision.requeue_after_seconds is None) == (after.canary_retire_at is None)
        assert decision.scale_canary_down == (after.canary_retire_at is None)
    if decision.requeue_after_seconds is not None:
        assert decision.requeue_after_seconds >= 1.0
    written = after.to_status()
    assert RolloutState.from_status(written).to_status() == written


def play(state: RolloutState, plan: RolloutPlan, policy: AnalysisPolicy, script: list, clock: float) -> None:
    for delay, world, action in script:
        clock += delay
        if action is not None:
            decision = apply_action(state, plan, action, at(clock))
            check_decision(state, decision, plan, saw_ready=None, action=True)
        else:
            seen = observation(state, world, clock)
            decision = next_step(state, plan, policy, seen, at(clock))
            ready = None if seen is None else seen.canary_ready
            check_decision(state, decision, plan, saw_ready=ready, action=False)
        state = RolloutState.from_status(decision.state.to_status())  # as if the operator restarted


@PROPERTY_SETTINGS
@given(plan=plans, policy=policies, script=moves)
def test_invariants_hold_from_a_fresh_rollout(
    plan: RolloutPlan, policy: AnalysisPolicy, script: list
) -> None:
    """Any observations, actions and delays after start keep every invariant."""
    start = start_rollout(plan, "6", "7", T0)
    check_decision(start.state, start, plan, saw_ready=None, action=False)
    play(start.state, plan, policy, script, 0.0)


# Whole seconds, as status stores them (RFC 3339 without fractions), so a stored state round-trips.
timestamps = st.one_of(st.none(), st.integers(-86_400, 86_400).map(lambda s: T0 + timedelta(seconds=s)))

evidence = st.builds(
    Evidence,
    log_e=st.tuples(*[st.floats(-50, 50)] * 6),
    canary_bad=st.integers(0, 10),
    canary_total=st.integers(10, 10_000),
    stable_bad=st.integers(0, 10),
    stable_total=st.integers(10, 10_000),
)


@st.composite
def any_state(draw: st.DrawFn) -> RolloutState:
    """Any well-formed state, including ones this code would never produce (edited status)."""
    phase = draw(st.sampled_from(Phase))
    needs_canary = phase not in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.DEGRADED, Phase.PENDING)
    return RolloutState(
        phase=phase,
        strategy=draw(st.sampled_from(StrategyKind)),
        stable_version="6",
        canary_version="7" if needs_canary else draw(st.sampled_from([None, "7"])),
        canary_weight=draw(st.integers(0, 100)),
        current_step_index=draw(st.integers(0, 8)),
        rollout_started_at=draw(timestamps),
        step_started_at=draw(timestamps),
        window_started_at=draw(timestamps),
        traffic_started_at=draw(timestamps),
        unready_since=draw(timestamps),
        failed_checks=draw(st.integers(0, 6)),
        analysis_errors=draw(st.integers(0, 5)),
        pause_reason=draw(st.one_of(st.none(), st.sampled_from(PauseReason))),
        last_verdict=draw(st.one_of(st.none(), st.sampled_from(Outcome))),
        message=draw(st.sampled_from(["", "waiting", "ünïcode ✓"])),
        evidence=draw(st.dictionaries(st.sampled_from(["errorRate", "latency"]), evidence, max_size=2)),
        canary_retire_at=draw(timestamps),
    )


@PROPERTY_SETTINGS
@given(state=any_state(), plan=plans, policy=policies, script=moves)
def test_invariants_hold_from_any_state(
    state: RolloutState, plan: RolloutPlan, policy: AnalysisPolicy, script: list
) -> None:
    """Starting from any stored status (even an odd one), every invariant still holds."""
    play(state, plan, policy, script, 0.0)


def time_bound(plan: RolloutPlan, policy: AnalysisPolicy, max_delay: float) -> float:
    """Seconds within which any rollout must end: the deadlines, not luck, bound it."""
    longest_pause = max(
        (s.duration_seconds or 0.0 for s in plan.steps if isinstance(s, PauseStep)), default=0.0
    )
    per_stage = (
        plan.progress_deadline_seconds
        + plan.no_traffic_deadline_seconds  # a window waiting for traffic
        + plan.no_traffic_deadline_seconds  # the evidence gate
        + plan.interval_seconds
        + longest_pause
        + plan.stage_duration_seconds
        + 3 * max_delay
    )
    failures = policy.failure_limit * (plan.interval_seconds + max_delay)
    return (len(plan.steps) + 3) * per_stage + failures


def answer_pauses(state: RolloutState, plan: RolloutPlan, clock: float) -> Decision | None:
    """The patient person: resumes a paused step, promotes a stage that waits for promotion."""
    if state.phase is not Phase.PAUSED:
        return None
    action = (
        RolloutAction.PROMOTE
        if state.pause_reason is PauseReason.AWAITING_PROMOTION
        else RolloutAction.RESUME
    )
    return apply_action(state, plan, action, at(clock))


def run_to_the_end(
    state: RolloutState,
    plan: RolloutPlan,
    policy: AnalysisPolicy,
    world: list[tuple[float, WorldFacts]],
    clock: float,
) -> float:
    """Tick with the cycled world until terminal; return the simulated seconds it took."""
    start = clock
    bound = time_bound(plan, policy, max(delay for delay, _ in world))
    tick = 0
    while not state.is_terminal and state.phase is not Phase.PENDING and state.canary_version is not None:
        assert clock - start <= bound, f"still {state.phase} after {clock - start:.0f}s (bound {bound:.0f}s)"
        answered = answer_pauses(state, plan, clock)
        if answered is not None:
            state = answered.state
            continue
        delay, facts_now = world[tick % len(world)]
        tick += 1
        clock += delay
        state = next_step(state, plan, policy, observation(state, facts_now, clock), at(clock)).state
    return clock - start


# Delays of at least 5s keep a run to a few hundred ticks; sub-interval calls are covered above.
worlds = st.lists(st.tuples(st.floats(5, 120), facts), min_size=1, max_size=12)


@PROPERTY_SETTINGS
@given(plan=plans, policy=policies, world=worlds)
def test_every_rollout_ends_within_the_deadlines(
    plan: RolloutPlan, policy: AnalysisPolicy, world: list[tuple[float, WorldFacts]]
) -> None:
    """No infinite Progressing: whatever the metrics say, the rollout reaches a terminal phase in time."""
    start = start_rollout(plan, "6", "7", T0)
    run_to_the_end(start.state, plan, policy, world, 0.0)


@PROPERTY_SETTINGS
@given(state=any_state(), plan=plans, policy=policies, world=worlds)
def test_every_rollout_ends_from_any_state(
    state: RolloutState, plan: RolloutPlan, policy: AnalysisPolicy, world: list[tuple[float, WorldFacts]]
) -> None:
    """Even from an odd stored status (past or future timestamps), the rollout ends in bounded time."""
    run_to_the_end(state, plan, policy, world, 0.0)


@PROPERTY_SETTINGS
@given(state=any_state())
def test_status_round_trips_for_any_state(state: RolloutState) -> None:
    """to_status / from_status is the identity (evidence included), so `.status` is the whole memory."""
    assert RolloutState.from_status(state.to_status()) == state


def test_step_type_alias_covers_both_kinds() -> None:
    """Plans accept a mix of weight and pause steps."""
    mixed: tuple[Step, ...] = (WeightStep(10), PauseStep(60), PauseStep(None), WeightStep(100))
    assert RolloutPlan(steps=mixed).steps == mixed
