"""Latency from histogram buckets: the slow count the judge uses, and the p99 people read."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from ferryman.rollout.histogram import count_above, quantile
from ferryman_serving.metrics import LATENCY_BUCKETS

pytestmark = pytest.mark.unit

INF = math.inf
BUCKETS = [(0.1, 90.0), (0.25, 95.0), (0.5, 98.0), (1.0, 99.0), (INF, 100.0)]


def cumulative(latencies: np.ndarray, bounds: tuple[float, ...]) -> list[tuple[float, float]]:
    """What Prometheus' `sum by (le)` returns for these request latencies (le: upper bound, inclusive)."""
    ordered = np.sort(latencies)
    counts = [float(bisect.bisect_right(ordered.tolist(), bound)) for bound in bounds]
    return [*zip(bounds, counts, strict=True), (INF, float(len(ordered)))]


def test_slow_requests_are_counted_above_the_limits_bucket_bound() -> None:
    """With the limit a bucket bound, the slow count is exact: requests in buckets above it."""
    assert count_above(BUCKETS, 0.5) == (2.0, 100.0, 0.5)


def test_a_limit_between_bounds_is_judged_at_the_bound_below_it() -> None:
    """A request between the lower bound and the limit cannot be told from one above the limit: count it as
    slow, so that no request over the limit ever passes as fast."""
    assert count_above(BUCKETS, 0.6) == (2.0, 100.0, 0.5)
    assert count_above(BUCKETS, 0.05) == (100.0, 100.0, 0.0)


def test_no_requests_mean_nothing_to_count() -> None:
    assert count_above([], 0.5) == (0.0, 0.0, 0.5)
    assert quantile([], 0.99) is None
    assert quantile([(0.1, 0.0), (INF, 0.0)], 0.99) is None


def test_quantile_interpolates_within_a_bucket_as_prometheus_does() -> None:
    """histogram_quantile: linear between the bucket's bounds; the +Inf bucket answers its lower bound."""
    assert quantile(BUCKETS, 0.99) == pytest.approx(1.0)
    assert quantile(BUCKETS, 0.5) == pytest.approx(0.1 * 50 / 90)
    assert quantile(BUCKETS, 0.995) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(8))
def test_p99_over_the_limit_is_the_same_as_more_than_one_percent_slow(seed: int) -> None:
    """Realistic latencies (log-normal body, a slow tail of varying size) through the server's own
    buckets: the count above 500ms is exact, and p99 > 500ms exactly when more than 1% are slower."""
    rng = np.random.default_rng(seed)
    fast = rng.lognormal(mean=math.log(0.02), sigma=0.6, size=5000)
    slow = rng.uniform(0.55, 2.0, size=int(rng.integers(0, 150)))
    latencies = np.concatenate([fast, slow])
    buckets = cumulative(latencies, LATENCY_BUCKETS)
    slow_count, total, bound = count_above(buckets, 0.5)
    assert bound == 0.5 and total == len(latencies)
    assert slow_count == np.count_nonzero(latencies > 0.5)
    p99 = quantile(buckets, 0.99)
    assert p99 is not None
    assert (p99 > 0.5) == (slow_count / total > 0.01)
