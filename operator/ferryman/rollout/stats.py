"""Exact one-sided tests on error counts, in plain `math` (no scipy).

Why exact tests: canary windows are small (a hundred requests, a handful of errors), where the
normal approximation of a z-test is badly calibrated and rolls back healthy canaries.
Both tails are summed from the end nearest the starting count, stopping once terms stop mattering,
so the cost is O(standard deviation) terms even for millions of requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# Terms smaller than this fraction of the running sum no longer change a double.
_NEGLIGIBLE = 1e-17


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _sum_monotone_tail(
    log_first: float, start: int, stop: int, step: int, ratio: Callable[[int], float]
) -> float:
    """Sum pmf(start), pmf(start+step), ... up to `stop` (inclusive) for a pmf that only shrinks.

    `ratio(x)` is pmf(x + step) / pmf(x).
    """
    term = math.exp(log_first)
    total = term
    x = start
    while x != stop and term > total * _NEGLIGIBLE:
        term *= ratio(x)
        x += step
        total += term
    return total


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    odds = p / (1.0 - p)

    def log_pmf(x: int) -> float:
        return _log_comb(n, x) + x * math.log(p) + (n - x) * math.log1p(-p)

    if k > n * p:  # upper tail starts past the mode: terms only shrink upward
        upper = _sum_monotone_tail(log_pmf(k), k, n, 1, lambda x: (n - x) / (x + 1) * odds)
        return min(1.0, upper)
    lower = _sum_monotone_tail(log_pmf(k - 1), k - 1, 0, -1, lambda x: x / ((n - x + 1) * odds))
    return max(0.0, 1.0 - lower)


def fisher_greater(
    canary_errors: int, canary_requests: int, stable_errors: int, stable_requests: int
) -> float:
    """One-sided Fisher exact p-value for "the canary's error rate is higher than stable's".

    Under the null both tracks share one error rate, so given the total number of errors the canary's
    share is hypergeometric; the p-value is the chance of the canary getting at least as many.
    """
    population = canary_requests + stable_requests
    total_errors = canary_errors + stable_errors
    drawn = canary_requests
    if canary_errors <= 0 or total_errors == 0 or drawn == 0:
        return 1.0
    lowest = max(0, drawn + total_errors - population)
    highest = min(total_errors, drawn)
    if canary_errors > highest:
        return 0.0
    if canary_errors <= lowest:
        return 1.0
    log_denominator = _log_comb(population, drawn)
    good = population - total_errors

    def log_pmf(x: int) -> float:
        return _log_comb(total_errors, x) + _log_comb(good, drawn - x) - log_denominator

    def up(x: int) -> float:
        return (total_errors - x) * (drawn - x) / ((x + 1) * (good - drawn + x + 1))

    def down(x: int) -> float:
        return x * (good - drawn + x) / ((total_errors - x + 1) * (drawn - x + 1))

    mean = drawn * total_errors / population
    if canary_errors > mean:
        return min(1.0, _sum_monotone_tail(log_pmf(canary_errors), canary_errors, highest, 1, up))
    lower = _sum_monotone_tail(log_pmf(canary_errors - 1), canary_errors - 1, lowest, -1, down)
    return max(0.0, 1.0 - lower)
