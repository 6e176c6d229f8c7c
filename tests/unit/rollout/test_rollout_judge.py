"""The canary judge on one window: decisive harm, materiality, not enough data, custom bounds, a pass."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from rollout_fixtures import window

from ferryman.rollout import (
    AnalysisPolicy,
    CustomCheck,
    Evidence,
    Outcome,
    Tally,
    evidence_gap,
    find_harm,
    judge_window,
)
from ferryman.rollout.evidence import RATIOS, window_log_factors
from ferryman.rollout.judge import harm_threshold_log, with_window

pytestmark = pytest.mark.unit

POLICY = AnalysisPolicy()
STABLE = (20_000, 60, 0)  # 0.3% errors, nothing slow


def test_below_min_requests_without_decisive_harm_is_inconclusive() -> None:
    """No traffic is not failure: under minRequests the window waits, naming the counts."""
    verdict = judge_window(window((99, 1, 0)), POLICY, {})
    assert verdict.outcome is Outcome.INCONCLUSIVE and not verdict.decisive
    assert "canary served 99 of 100 required requests (minRequests)" in verdict.message


def test_decisive_harm_fails_even_below_min_requests() -> None:
    """Half of 99 requests failing beside a healthy stable is decisive: minRequests does not shield it."""
    verdict = judge_window(window((99, 50, 0)), POLICY, {})
    assert verdict.outcome is Outcome.FAIL and verdict.decisive


def test_healthy_canary_passes() -> None:
    """The same error rate and no slow requests on both tracks: pass, no reasons."""
    verdict = judge_window(window((2000, 6, 0)), POLICY, {})
    assert verdict.outcome is Outcome.PASS
    assert verdict.reasons == ()
    assert [check.name for check in verdict.checks] == ["errorRate", "latency"]


def test_error_regression_fails_decisively_naming_shares_counts_and_limit() -> None:
    """The message names both tracks' shares, their counts, the limit and the strength of evidence."""
    verdict = judge_window(window((1000, 41, 0)), POLICY, {})
    assert verdict.outcome is Outcome.FAIL and verdict.decisive
    (reason,) = verdict.reasons
    assert reason.startswith("canary error rate 4.1% vs stable 0.3% (41 of 1000 vs 60 of 20000) (limit 1%)")
    assert reason.endswith("to 1 against a healthy canary")


def test_harm_counted_at_the_gateway_says_so() -> None:
    """Errors read from the gateway's per-backend counts (its own 502/503s included) are named as such."""
    seen = window((1000, 41, 0))
    at_gateway = replace(seen, canary=replace(seen.canary, error_source="gateway"))
    harm = find_harm(at_gateway, POLICY, {})
    assert harm is not None and "error rate 4.1%" in harm.message
    assert "(as users saw it, at the gateway)" in harm.message
    at_pods = find_harm(replace(seen, canary=replace(seen.canary, error_source="server")), POLICY, {})
    assert at_pods is not None and "gateway" not in at_pods.message


def test_shared_outage_is_no_evidence_against_the_canary() -> None:
    """Both tracks erring alike (a shared dependency is down): above the limit, yet no harm and a pass."""
    outage = window((1000, 52, 0), stable=(20_000, 1000, 0))
    assert find_harm(outage, POLICY, {}) is None
    assert judge_window(outage, POLICY, {}).outcome is Outcome.PASS


def test_a_handful_of_errors_beside_an_error_free_stable_is_not_harm() -> None:
    """2 in 5,000 vs 0 in 100,000: stable's share is floored at 10% of the limit, so 0.04% is not material."""
    assert find_harm(window((5000, 2, 0), stable=(100_000, 0, 0)), POLICY, {}) is None


def test_clear_errors_beside_an_error_free_stable_are_harm() -> None:
    """40 in 5,000 (0.8%, under the limit) vs none on stable: above 1.5x the floor, so it rolls back."""
    harm = find_harm(window((5000, 40, 0), stable=(50_000, 0, 0)), POLICY, {})
    assert harm is not None and harm.decisive
    assert "canary error rate 0.8% vs stable 0% (40 of 5000 vs 0 of 50000)" in harm.message


def test_regression_under_the_limit_but_over_the_ratio_is_harm() -> None:
    """0.9% vs stable 0.3% is three times stable (maxErrorRatio 1.5): material though under 1%."""
    harm = find_harm(window((20_000, 180, 0), stable=(100_000, 300, 0)), POLICY, {})
    assert harm is not None
    assert [check.name for check in harm.checks] == ["errorRate"]


def test_a_real_but_small_regression_is_tolerated() -> None:
    """0.65% vs 0.5% is certainly worse (decisive evidence) but under the limit and within 1.5x: no harm."""
    observation = window((200_000, 1300, 0), stable=(1_000_000, 5000, 0))
    evidence = with_window({}, observation, POLICY)["errorRate"]
    assert evidence.harm_log >= harm_threshold_log(POLICY)
    assert find_harm(observation, POLICY, {}) is None


def test_without_stable_traffic_the_canary_is_judged_against_the_limit() -> None:
    """At weight 100 stable is idle: 1.4% is not decisive over 1,000 requests; 4% is, and says so."""
    idle = (0, 0, 0)
    assert find_harm(window((1000, 14, 0), stable=idle), POLICY, {}) is None
    harm = find_harm(window((1000, 40, 0), stable=idle), POLICY, {})
    assert harm is not None
    assert "canary error rate 4% with stable too idle to compare (40 of 1000) (limit 1%)" in harm.message


def test_early_in_a_window_a_little_stable_traffic_is_compared_with() -> None:
    """Stable under minRequests still compares: an outage or slowness both tracks share is no harm."""
    shared_outage = window((60, 12, 0), stable=(50, 10, 0))
    shared_slowness = window((60, 0, 12), stable=(50, 0, 10))
    for observation in (shared_outage, shared_slowness):
        assert find_harm(observation, POLICY, {}) is None
    assert find_harm(window((60, 20, 0), stable=(50, 0, 0)), POLICY, {}) is not None


def test_at_full_weight_latency_is_tested_against_stables_share_when_that_was_over_the_limit() -> None:
    """Alone at the 100% step, 3% slow breaks the p99 limit; stable was 3% slow too: no evidence.

    Tested against the limit (1%) the evidence was decisive at once, and only the materiality rule
    (above 1.5x stable's 3%) held it back, which chance beat in 1.4% of rollouts at 50 requests/s.
    """
    slow_stable = with_window({}, window((1000, 3, 30), stable=(20_000, 60, 600)), POLICY)
    alone = window((5000, 15, 150), stable=(0, 0, 0))
    assert with_window(slow_stable, alone, POLICY)["latency"].harm_log < 0
    assert find_harm(alone, POLICY, slow_stable) is None
    slower = window((5000, 15, 500), stable=(0, 0, 0))  # 10% slow: worse than stable was
    harm = find_harm(slower, POLICY, slow_stable)
    assert harm is not None and [check.name for check in harm.checks] == ["latency"]
    fast_stable = with_window({}, window((1000, 3, 0), stable=(20_000, 60, 0)), POLICY)
    harm = find_harm(alone, POLICY, fast_stable)
    assert harm is not None and [check.name for check in harm.checks] == ["latency"]


def test_slow_canary_beside_a_fast_stable_is_harm() -> None:
    """2% of the canary's requests over the p99 limit vs none of stable's: p99 is broken, roll back."""
    harm = find_harm(window((1000, 3, 20)), POLICY, {})
    assert harm is not None and [check.name for check in harm.checks] == ["latency"]
    assert "2% of requests slower than 500ms vs stable 0% (20 of 1000 vs 0 of 20000)" in harm.message


def test_slow_like_stable_passes() -> None:
    """When stable is just as slow the canary is not to blame."""
    both_slow = window((1000, 3, 20), stable=(20_000, 60, 400))
    assert find_harm(both_slow, POLICY, {}) is None
    assert judge_window(both_slow, POLICY, {}).outcome is Outcome.PASS


def test_latency_worse_than_stable_but_within_the_limit_passes() -> None:
    """Latency must break the limit AND be worse than stable: 0.8% slow (p99 still under) vs 0.1% is fine."""
    observation = window((10_000, 30, 80), stable=(100_000, 300, 100))
    assert with_window({}, observation, POLICY)["latency"].harm_log >= harm_threshold_log(POLICY)
    assert find_harm(observation, POLICY, {}) is None


def test_latency_without_data_is_inconclusive() -> None:
    """A latency limit with no histogram data waits instead of passing blindly."""
    verdict = judge_window(window((1000, 3, None)), POLICY, {})
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "canary latency has no data" in verdict.message


def test_latency_check_off_without_a_limit() -> None:
    """maxLatencyP99 unset: latency is not judged and the significance is not split for it."""
    policy = AnalysisPolicy(max_latency_p99_seconds=None)
    verdict = judge_window(window((1000, 3, None)), policy, {})
    assert verdict.outcome is Outcome.PASS
    assert [check.name for check in verdict.checks] == ["errorRate"]
    assert harm_threshold_log(policy) == pytest.approx(math.log(1 / 0.005))
    assert harm_threshold_log(POLICY) == pytest.approx(math.log(2 / 0.005))


def test_custom_metric_out_of_bounds_fails_without_being_decisive() -> None:
    """A custom metric outside [min, max] fails the window (toward failureLimit), naming value and bounds."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("queue_depth", max_value=10),))
    verdict = judge_window(window((1000, 3, 0), custom={"queue_depth": 12.5}), policy, {})
    assert verdict.outcome is Outcome.FAIL and not verdict.decisive
    assert verdict.reasons == ("metric queue_depth 12.5 over 30s (allowed -inf..10)",)


def test_custom_metric_without_data_is_inconclusive() -> None:
    """A custom query that returns nothing waits, naming the metric."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    verdict = judge_window(window((1000, 3, 0), custom={"accuracy": None}), policy, {})
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "metric accuracy has no data" in verdict.message


def test_a_failed_check_wins_over_missing_data() -> None:
    """One failed check fails the window even if another check has no data."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    verdict = judge_window(window((1000, 3, None), custom={"accuracy": 0.5}), policy, {})
    assert verdict.outcome is Outcome.FAIL


def test_error_counts_are_clamped_to_requests() -> None:
    """Prometheus extrapolation can report more errors than requests: that is 100% errors."""
    verdict = judge_window(window((100.4, 100.9, 0)), POLICY, {})
    assert verdict.outcome is Outcome.FAIL
    assert "canary error rate 100% vs stable 0.3% (100 of 100" in verdict.message


def test_evidence_from_earlier_windows_counts() -> None:
    """A window that alone is not decisive fails when the rollout's earlier evidence points the same way."""
    observation = window((150, 4, 0), stable=(2850, 9, 0))  # 2.7% vs 0.3% at the 5% step
    assert find_harm(observation, POLICY, {}) is None
    earlier = with_window({}, observation, POLICY)
    assert find_harm(observation, POLICY, earlier) is not None


def test_evidence_gap_holds_until_a_regression_is_ruled_out() -> None:
    """Before promotion, a detect_ratio (1.5x) regression must be ruled out; few events do not."""
    few = with_window({}, window((1000, 3, 0)), POLICY)
    gap = evidence_gap(POLICY, few)
    assert gap is not None and gap.startswith("errorRate: the canary's requests do not yet rule out")
    many = with_window({}, window((20_000, 60, 0), stable=(20_000, 60, 0)), POLICY)
    assert evidence_gap(POLICY, many) is None


def test_a_preview_beside_busy_stable_needs_about_750_clean_requests() -> None:
    """docs/rollouts.md (Blue-green): with the default limits and no errors on either track, ruling
    out a 0.5% error rate (1.5x stable's floor of 0.1%, at least half of the 1% limit) with miss
    chance 5% takes 747 requests; the latency check (1% slower than the limit) needs fewer."""
    assert evidence_gap(POLICY, with_window({}, window((746, 0, 0), stable=(600, 0, 0)), POLICY)) == (
        "errorRate: the canary's requests do not yet rule out error rate 0.5% (stable 0.1%)"
    )
    assert evidence_gap(POLICY, with_window({}, window((747, 0, 0), stable=(600, 0, 0)), POLICY)) is None


def test_evidence_gap_ignores_checks_without_stable_to_compare() -> None:
    """A preview beside an idle stable has nothing to compare; the gate does not hold it."""
    alone = with_window({}, window((1000, 3, 0), stable=(0, 0, 0)), POLICY)
    assert evidence_gap(POLICY, alone) is None


@pytest.mark.parametrize(("n", "m", "t"), [(100, 1900, 12), (1000, 1000, 30), (50, 50, 7)])
def test_a_comparative_window_is_a_fair_bet_when_the_canary_is_like_stable(n: int, m: int, t: int) -> None:
    """Given t bad events split at random in proportion to traffic, each ratio's factor has expectation 1.

    This is what makes the product over windows a test martingale (Ville: false alarm <= alpha, ever).
    """
    pi = n / (n + m)
    expected = [0.0] * 6
    for x in range(t + 1):
        chance = math.comb(t, x) * pi**x * (1 - pi) ** (t - x)
        # x of the t bad events are the canary's, the rest stable's (totals as observed).
        start = Evidence()
        factors = start.plus(Tally(x, n), Tally(t - x, m), comparable=True, limit=0.01).log_e
        expected = [e + chance * math.exp(f) for e, f in zip(expected, factors, strict=True)]
    assert expected == pytest.approx([1.0] * 6, rel=1e-9)


def test_an_alone_window_is_a_fair_bet_when_the_canary_is_at_the_limit() -> None:
    """Without stable, errors at exactly the limit give each ratio's factor expectation 1 (below it: less)."""
    n, limit = 200, 0.01
    for rate, bound in ((limit, 1.0), (limit / 2, 0.999)):
        expected = [0.0] * 6
        for x in range(n + 1):
            chance = math.comb(n, x) * rate**x * (1 - rate) ** (n - x)
            factors = Evidence().plus(Tally(x, n), Tally(0, 0), comparable=False, limit=limit).log_e
            expected = [e + chance * math.exp(f) for e, f in zip(expected, factors, strict=True)]
        assert max(expected) <= bound + 1e-9


@pytest.mark.parametrize("limit", [0.01, 0.05, 0.2, 0.5, 0.9])
def test_alone_a_canary_exactly_at_its_limit_expects_no_evidence(limit: float) -> None:
    """Against the absolute limit, one request's factor has expectation at most 1 under the limit for every
    ratio (docs/rollouts.md). For limits above about 0.05 p0 was lowered below the limit: at 0.5 the
    expected factor reached 10, and 3 errors in 3 requests rolled back a canary within its limit."""
    bad = window_log_factors(Tally(1, 1), Tally(0, 0), comparable=False, limit=limit)
    good = window_log_factors(Tally(0, 1), Tally(0, 0), comparable=False, limit=limit)
    for ratio, when_bad, when_good in zip(RATIOS, bad, good, strict=True):
        expected = limit * math.exp(when_bad) + (1 - limit) * math.exp(when_good)
        assert expected <= 1 + 1e-9, (ratio, expected)
