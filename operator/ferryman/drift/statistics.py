"""Drift scores of one feature from binned counts: PSI, Jensen-Shannon distance and a G-test.

Inputs are the live window's count per bin (the `increase()` of the serving pods' bucket counters,
differenced from cumulative `le` buckets) and the reference profile's proportion per bin over the same
edges. Pure numpy; no scipy at run time (the unit tests check every number against scipy).

Empty bins: PSI divides by both proportions and takes their log, so a bin that is empty on either side
would make it infinite. Both sides are floored at EMPTY_BIN_FLOOR (0.0001, Evidently's choice) and
renormalised before PSI. Jensen-Shannon needs no floor (its mixture is never zero where either side is
not, and 0 * log 0 = 0). The G-test uses counts, where an empty cell is simply zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EMPTY_BIN_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class HomogeneityTest:
    """G-test of homogeneity between the live counts and the reference counts (2 x bins table)."""

    statistic: float
    degrees_of_freedom: int
    p_value: float


def _as_distribution(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("need a non-empty list of per-bin values")
    if np.any(~np.isfinite(array)) or np.any(array < 0):
        raise ValueError("per-bin values must be finite and not negative")
    return array


def _shares(values: Sequence[float]) -> np.ndarray:
    array = _as_distribution(values)
    total = array.sum()
    if total <= 0:
        raise ValueError("no samples: every bin is empty")
    shares: np.ndarray = array / total
    return shares


def _check_same_bins(live: np.ndarray, reference: np.ndarray) -> None:
    if live.size != reference.size:
        raise ValueError(f"{live.size} live bins against {reference.size} reference bins: not the same edges")


def floored(shares: np.ndarray) -> np.ndarray:
    """Shares with every bin at least EMPTY_BIN_FLOOR, renormalised to sum to 1."""
    lifted = np.maximum(shares, EMPTY_BIN_FLOOR)
    result: np.ndarray = lifted / lifted.sum()
    return result


def psi(live_counts: Sequence[float], reference_proportions: Sequence[float]) -> float:
    """Population Stability Index: sum over bins of (live - ref) * ln(live / ref), empty bins floored."""
    live, reference = _shares(live_counts), _shares(reference_proportions)
    _check_same_bins(live, reference)
    p, q = floored(live), floored(reference)
    return float(np.sum((p - q) * np.log(p / q)))


def js_distance(live_counts: Sequence[float], reference_proportions: Sequence[float]) -> float:
    """Jensen-Shannon distance in base 2 (0 = same distribution, 1 = no bin in common)."""
    live, reference = _shares(live_counts), _shares(reference_proportions)
    _check_same_bins(live, reference)
    mixture = (live + reference) / 2
    divergence = (_kl_bits(live, mixture) + _kl_bits(reference, mixture)) / 2
    # Rounding can leave a divergence of -1e-17 for identical inputs.
    return math.sqrt(max(divergence, 0.0))


def _kl_bits(p: np.ndarray, m: np.ndarray) -> float:
    used = p > 0
    return float(np.sum(p[used] * np.log2(p[used] / m[used])))


def sampling_noise(bins: int, samples: float, reference_samples: float) -> float:
    """Expected PSI between two samples of one distribution: (bins - 1) * (1/n + 1/n_ref).

    Each bin's share wobbles by q(1 - q)(1/n + 1/n_ref); PSI is about sum (p - q)^2 / q for small
    differences, so finite samples alone give this much PSI. Jensen-Shannon divergence is about an eighth
    of it (in nats). An unknown reference size (0) counts as exact.
    """
    if bins <= 1 or samples <= 0:
        return 0.0
    reference_part = 1.0 / reference_samples if reference_samples > 0 else 0.0
    return (bins - 1) * (1.0 / samples + reference_part)


def _held_bins(reference_proportions: Sequence[float]) -> int:
    # Only bins the reference holds wobble: a bin empty in training (a discrete feature's padding) adds no
    # noise, and counting it took twice the noise off a binary feature's score at 100 rows.
    return sum(1 for share in reference_proportions if share > 0)


def debiased_psi(
    live_counts: Sequence[float], reference_proportions: Sequence[float], reference_samples: float
) -> float:
    """PSI less what sampling noise alone gives (never below 0): the same reading at 500 as at 50,000
    samples, instead of a score that grows as windows get smaller (Evidently #50)."""
    noise = sampling_noise(_held_bins(reference_proportions), float(np.sum(live_counts)), reference_samples)
    return max(psi(live_counts, reference_proportions) - noise, 0.0)


def debiased_js_distance(
    live_counts: Sequence[float], reference_proportions: Sequence[float], reference_samples: float
) -> float:
    """Jensen-Shannon distance with the divergence that sampling noise alone gives removed first."""
    noise_bits = sampling_noise(
        _held_bins(reference_proportions), float(np.sum(live_counts)), reference_samples
    ) / (8.0 * math.log(2.0))
    divergence = js_distance(live_counts, reference_proportions) ** 2
    return math.sqrt(max(divergence - noise_bits, 0.0))


def g_test(
    live_counts: Sequence[float], reference_proportions: Sequence[float], reference_samples: float
) -> HomogeneityTest:
    """Are live and reference rows drawn from one distribution over these bins? (G-test of homogeneity)

    The reference is a sample too (`reference_samples` training rows), so the two are compared as a
    2 x k contingency table rather than taking the reference proportions as exact: with a small training
    set, a goodness-of-fit test against its proportions would flag its own sampling noise as drift.
    Bins empty on both sides carry no information and are dropped (as a contingency test must).
    """
    live = _as_distribution(live_counts)
    reference = _shares(reference_proportions) * reference_samples
    _check_same_bins(live, reference)
    if reference_samples <= 0 or live.sum() <= 0:
        raise ValueError("the G-test needs live and reference samples")
    used = (live + reference) > 0
    table = np.vstack([live[used], reference[used]])
    degrees = int(table.shape[1]) - 1
    if degrees == 0:
        return HomogeneityTest(0.0, 0, 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    observed = table > 0
    statistic = float(2.0 * np.sum(table[observed] * np.log(table[observed] / expected[observed])))
    statistic = max(statistic, 0.0)
    return HomogeneityTest(statistic, degrees, chi2_survival(statistic, degrees))


def chi2_survival(statistic: float, degrees: int) -> float:
    """P(X >= statistic) for X ~ chi-square(degrees): the regularised upper incomplete gamma Q(k/2, x/2)."""
    if degrees <= 0:
        raise ValueError("degrees of freedom must be positive")
    if statistic <= 0:
        return 1.0
    return _upper_gamma_regularised(degrees / 2.0, statistic / 2.0)


def _upper_gamma_regularised(a: float, x: float) -> float:
    # Numerical Recipes (6.2): the series converges fast below a + 1, the continued fraction above it.
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_series(a, x))
    return _upper_continued_fraction(a, x)


def _log_prefactor(a: float, x: float) -> float:
    return -x + a * math.log(x) - math.lgamma(a)


def _lower_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    denominator = a
    for _ in range(1000):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(_log_prefactor(a, x))


def _upper_continued_fraction(a: float, x: float) -> float:
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(_log_prefactor(a, x)) * h
