"""The canary judge: one window in, pass / fail with reasons / inconclusive out."""

from __future__ import annotations

import pytest
from rollout_fixtures import at

from ferryman.rollout import AnalysisPolicy, CustomCheck, Observation, Outcome, TrackSample, judge

pytestmark = pytest.mark.unit

POLICY = AnalysisPolicy()


def window(
    canary: tuple[float, float],
    stable: tuple[float, float] = (20_000, 60),
    *,
    canary_p99: float | None = 0.02,
    stable_p99: float | None = 0.02,
    custom: dict[str, float | None] | None = None,
    seconds: float = 120,
) -> Observation:
    return Observation(
        window_start=at(0),
        window_end=at(seconds),
        canary=TrackSample(*canary, canary_p99),
        stable=TrackSample(*stable, stable_p99),
        canary_ready=True,
        custom=custom or {},
    )


def test_below_min_requests_is_inconclusive_even_with_errors() -> None:
    """No traffic is not failure: under minRequests the judge waits, whatever the errors look like."""
    verdict = judge(window((99, 50)), POLICY)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "99 of 100 required requests over 2m" in verdict.message


def test_healthy_canary_passes() -> None:
    """A canary with the same error rate and latency as stable passes."""
    verdict = judge(window((1000, 3)), POLICY)
    assert verdict.outcome is Outcome.PASS
    assert verdict.reasons == ()


def test_error_rate_far_above_stable_and_limit_fails_with_measured_values() -> None:
    """The Event names the measured canary and stable rates, the window and the limit."""
    verdict = judge(window((1000, 41)), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reasons == ("canary error rate 4.1% vs stable 0.3% over 2m (limit 1%)",)


def test_shared_outage_does_not_fail_the_canary() -> None:
    """Above the limit but no worse than stable (a shared dependency is down): not the canary's fault."""
    verdict = judge(window((1000, 52), stable=(20_000, 1000)), POLICY)
    assert verdict.outcome is Outcome.PASS


def test_noise_above_the_limit_at_low_traffic_does_not_fail() -> None:
    """2 errors in 100 requests (2%) vs stable 0.3% is not significant at alpha 0.01: pass."""
    verdict = judge(window((100, 2)), POLICY)
    assert verdict.outcome is Outcome.PASS


def test_significant_regression_below_the_limit_fails_on_the_ratio() -> None:
    """Under the absolute limit but significantly worse than stable by more than maxErrorRatio: fail."""
    verdict = judge(window((20_000, 180), stable=(100_000, 300)), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert "3.0x stable, limit 1.5x stable" in verdict.message


def test_errors_where_stable_has_none_fail_when_significant() -> None:
    """Stable error-free, canary clearly erring (below the absolute limit): the message says so."""
    verdict = judge(window((5000, 40), stable=(50_000, 0)), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert "stable had none, limit 1.5x stable" in verdict.message


def test_small_significant_regression_within_the_ratio_passes() -> None:
    """Significantly worse but by less than maxErrorRatio and under the limit: tolerated."""
    verdict = judge(window((200_000, 1300), stable=(1_000_000, 5000)), POLICY)
    assert verdict.outcome is Outcome.PASS
    p_value = verdict.checks[0].p_value
    assert p_value is not None and p_value < POLICY.significance


def test_without_stable_traffic_the_canary_must_be_significantly_above_the_limit() -> None:
    """At weight 100 stable has no traffic: fail only when clearly above maxErrorRate."""
    assert judge(window((1000, 14), stable=(0, 0)), POLICY).outcome is Outcome.PASS
    verdict = judge(window((1000, 40), stable=(0, 0)), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert "too few to compare" in verdict.message


def test_latency_above_limit_and_stable_fails() -> None:
    """p99 above maxLatencyP99 and above stable's p99 by the margin fails, naming both values."""
    verdict = judge(window((1000, 3), canary_p99=0.82, stable_p99=0.045), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reasons == ("canary latency p99 820ms vs stable 45ms over 2m (limit 500ms)",)


def test_latency_above_limit_but_like_stable_passes() -> None:
    """When stable is just as slow, the canary is not to blame."""
    verdict = judge(window((1000, 3), canary_p99=0.62, stable_p99=0.6), POLICY)
    assert verdict.outcome is Outcome.PASS


def test_latency_without_data_is_inconclusive() -> None:
    """A configured latency limit with no histogram data waits instead of passing blindly."""
    verdict = judge(window((1000, 3), canary_p99=None), POLICY)
    assert verdict.outcome is Outcome.INCONCLUSIVE


def test_latency_check_off_when_no_limit() -> None:
    """maxLatencyP99 unset: latency is not judged at all."""
    policy = AnalysisPolicy(max_latency_p99_seconds=None)
    verdict = judge(window((1000, 3), canary_p99=None), policy)
    assert verdict.outcome is Outcome.PASS
    assert [check.name for check in verdict.checks] == ["errorRate"]


def test_custom_metric_out_of_bounds_fails() -> None:
    """A custom metric outside [min, max] fails with its value and bounds."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("queue_depth", max_value=10),))
    verdict = judge(window((1000, 3), custom={"queue_depth": 12.5}), policy)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.reasons == ("metric queue_depth 12.5 over 2m (allowed -inf..10)",)


def test_custom_metric_without_data_is_inconclusive() -> None:
    """A custom query that returns nothing waits (and names the metric)."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    verdict = judge(window((1000, 3), custom={"accuracy": None}), policy)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "metric accuracy has no data" in verdict.message


def test_failure_wins_over_missing_data() -> None:
    """One failed check fails the window even if another check has no data."""
    policy = AnalysisPolicy(custom_checks=(CustomCheck("accuracy", min_value=0.9),))
    verdict = judge(window((1000, 41), custom={}), policy)
    assert verdict.outcome is Outcome.FAIL


def test_error_counts_are_clamped_to_requests() -> None:
    """Prometheus extrapolation can report more errors than requests; treat it as 100% errors."""
    verdict = judge(window((100.4, 100.9)), POLICY)
    assert verdict.outcome is Outcome.FAIL
    assert "canary error rate 100%" in verdict.message
