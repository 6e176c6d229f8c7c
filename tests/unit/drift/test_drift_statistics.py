"""PSI, Jensen-Shannon distance and the G-test from binned counts: known values, edge cases, scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from ferryman.drift.statistics import (
    EMPTY_BIN_FLOOR,
    chi2_survival,
    debiased_js_distance,
    debiased_psi,
    floored,
    g_test,
    js_distance,
    psi,
    sampling_noise,
)
from ferryman_serving.profile import bin_indices, build_profile

pytestmark = pytest.mark.unit

DECILES = [0.1] * 10


def test_identical_distributions_score_zero() -> None:
    """Counts in exactly the reference proportions: PSI 0, JS 0, p-value 1."""
    assert psi([50] * 10, DECILES) == pytest.approx(0.0, abs=1e-12)
    assert js_distance([50] * 10, DECILES) == pytest.approx(0.0, abs=1e-12)
    result = g_test([50] * 10, DECILES, 500)
    assert result.statistic == pytest.approx(0.0, abs=1e-9)
    assert result.p_value == pytest.approx(1.0)


def test_psi_known_value() -> None:
    """Two bins, 0.7/0.3 live against 0.5/0.5: (0.2 ln 1.4) + (-0.2 ln 0.6) = 0.16946."""
    assert psi([70, 30], [0.5, 0.5]) == pytest.approx(0.2 * math.log(1.4) - 0.2 * math.log(0.6), rel=1e-3)


def test_js_distance_of_disjoint_distributions_is_one() -> None:
    """No bin in common: the base-2 Jensen-Shannon distance reaches its maximum, 1."""
    assert js_distance([10, 0], [0.0, 1.0]) == pytest.approx(1.0)


def test_empty_live_bin_gives_a_finite_psi_with_the_documented_floor() -> None:
    """A bin empty in the live window is floored at 0.0001 (then renormalised), so PSI stays finite."""
    live = np.array([0.0, 60.0, 40.0])
    reference = np.array([0.2, 0.4, 0.4])
    p = floored(live / live.sum())
    q = floored(reference)
    expected = float(np.sum((p - q) * np.log(p / q)))
    assert psi(live, reference) == pytest.approx(expected)
    assert math.isfinite(psi(live, reference))
    assert p[0] == pytest.approx(EMPTY_BIN_FLOOR / (1 + EMPTY_BIN_FLOOR))


def test_one_bin_scores_zero() -> None:
    """A feature whose reference had a single bin (a constant) can show no drift over that bin."""
    assert psi([40], [1.0]) == 0.0
    assert js_distance([40], [1.0]) == 0.0
    assert g_test([40], [1.0], 100).p_value == 1.0


def test_no_live_samples_is_refused() -> None:
    """All-zero counts are not a distribution; the caller must check minSamples first."""
    with pytest.raises(ValueError, match="no samples"):
        psi([0, 0], [0.5, 0.5])


def test_different_bin_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="not the same edges"):
        js_distance([1, 2, 3], [0.5, 0.5])


@pytest.mark.parametrize("seed", range(5))
def test_js_distance_matches_scipy(seed: int) -> None:
    """scipy.spatial.distance.jensenshannon(base=2) on the same shares, with and without empty bins."""
    rng = np.random.default_rng(seed)
    live = rng.integers(0, 50, size=12).astype(float)
    live[seed] = 0.0
    reference = rng.dirichlet(np.ones(12))
    expected = jensenshannon(live / live.sum(), reference, base=2)
    assert js_distance(live, reference) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_g_test_matches_scipy_contingency(seed: int) -> None:
    """The same 2 x k table through scipy.stats.chi2_contingency with the log-likelihood statistic."""
    rng = np.random.default_rng(seed)
    live = rng.integers(1, 200, size=10).astype(float)
    reference = rng.dirichlet(np.ones(10))
    result = g_test(live, reference, 5000)
    table = np.vstack([live, reference * 5000])
    statistic, p_value, dof, _ = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.degrees_of_freedom == dof
    assert result.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-300)


@pytest.mark.parametrize(
    ("x", "k"), [(0.5, 1), (3.0, 9), (9.0, 9), (27.7, 9), (120.0, 9), (400.0, 20), (1e-3, 2)]
)
def test_chi2_survival_matches_scipy(x: float, k: int) -> None:
    assert chi2_survival(x, k) == pytest.approx(stats.chi2.sf(x, k), rel=1e-9)


def test_bins_dropped_when_empty_on_both_sides() -> None:
    """A bin empty in live and reference carries no information and does not add a degree of freedom."""
    assert g_test([30, 0, 70], [0.3, 0.0, 0.7], 1000).degrees_of_freedom == 1


def test_scores_from_bins_equal_scores_from_raw_rows() -> None:
    """Binning raw rows with the profile's edges (as the serving pods do) gives the same scores as
    computing them from the rows' own histogram: the operator loses nothing by seeing only buckets."""
    rng = np.random.default_rng(7)
    training = rng.normal(size=(20_000, 1))
    live_rows = rng.normal(loc=0.5, size=3_000)
    profile = build_profile(training)
    feature = profile.features[0]
    counts = np.bincount(bin_indices(live_rows, feature.edges), minlength=len(feature.proportions))
    # From raw rows: the share of each side in each bin, straight from np.histogram on the same edges
    # (right-closed like Prometheus' `le`, so values equal to an edge land in the lower bin).
    edges = np.array([-np.inf, *feature.edges, np.inf])
    live_hist = np.array(
        [np.sum((live_rows > lo) & (live_rows <= hi)) for lo, hi in itertools.pairwise(edges)]
    )
    train_hist = np.array(
        [np.sum((training[:, 0] > lo) & (training[:, 0] <= hi)) for lo, hi in itertools.pairwise(edges)]
    )
    assert list(counts) == list(live_hist)
    assert feature.proportions == pytest.approx(list(train_hist / train_hist.sum()))
    assert js_distance(counts, feature.proportions) == pytest.approx(
        jensenshannon(live_hist / live_hist.sum(), train_hist / train_hist.sum(), base=2)
    )
    q = train_hist / train_hist.sum()
    p = live_hist / live_hist.sum()
    assert psi(counts, feature.proportions) == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-3)
    # A 0.5 sigma shift is far beyond the usual PSI alarm's 0.2 reach of about 0.45 sigma (anchors).
    assert psi(counts, feature.proportions) > 0.2


def test_quarter_sigma_shift_scores_near_the_anchor_values() -> None:
    """Anchors: a 0.25 sigma mean shift with decile bins gives PSI about 0.06 and JS distance about 0.10."""
    rng = np.random.default_rng(3)
    profile = build_profile(rng.normal(size=(200_000, 1)))
    feature = profile.features[0]
    live = rng.normal(loc=0.25, size=200_000)
    counts = np.bincount(bin_indices(live, feature.edges), minlength=len(feature.proportions))
    assert psi(counts, feature.proportions) == pytest.approx(0.06, abs=0.01)
    assert js_distance(counts, feature.proportions) == pytest.approx(0.10, abs=0.02)


def test_sampling_noise_is_the_mean_psi_of_two_samples_of_one_distribution() -> None:
    """(bins - 1)(1/n + 1/n_ref): the PSI that 500 live rows against 10,000 reference rows show with
    no drift at all, checked on 2,000 simulated windows."""
    rng = np.random.default_rng(5)
    proportions = np.full(10, 0.1)
    observed = []
    for _ in range(2000):
        reference = rng.multinomial(10_000, proportions) / 10_000
        observed.append(psi(rng.multinomial(500, proportions), reference))
    assert float(np.mean(observed)) == pytest.approx(sampling_noise(10, 500, 10_000), rel=0.1)


def test_debiased_scores_no_longer_grow_as_the_window_shrinks() -> None:
    """A 0.25 sigma shift read from 500 and from 50,000 rows: the raw JS distance differs by the noise of
    the small sample; the debiased one reads about the same."""
    rng = np.random.default_rng(9)
    profile = build_profile(rng.normal(size=(100_000, 1)))
    feature = profile.features[0]
    small = []
    for _ in range(200):
        counts = np.bincount(bin_indices(rng.normal(0.25, size=500), feature.edges), minlength=10)
        small.append(
            (
                js_distance(counts, feature.proportions),
                debiased_js_distance(counts, feature.proportions, 100_000),
            )
        )
    counts = np.bincount(bin_indices(rng.normal(0.25, size=50_000), feature.edges), minlength=10)
    large_raw = js_distance(counts, feature.proportions)
    large_debiased = debiased_js_distance(counts, feature.proportions, 100_000)
    raw_small = float(np.mean([s[0] for s in small]))
    debiased_small = float(np.mean([s[1] for s in small]))
    assert raw_small - large_raw > 0.01
    assert debiased_small == pytest.approx(large_debiased, abs=0.01)
    assert debiased_psi(counts, feature.proportions, 100_000) < psi(counts, feature.proportions)


def test_bins_empty_in_the_reference_add_no_sampling_noise() -> None:
    """A binary feature's profile has a third, empty bin: counting it took twice the noise off, so a
    0.3 -> 0.43 shift at 100 rows read 0.098 (not drifted at js 0.1) instead of 0.107."""
    padded = debiased_js_distance([57, 43, 0], [0.7, 0.3, 0.0], 10_000)
    assert padded == pytest.approx(debiased_js_distance([57, 43], [0.7, 0.3], 10_000))
    assert padded > 0.1
    # PSI floors the empty bin at 1e-4 (renormalised), so it differs by that much at most
    assert debiased_psi([57, 43, 0], [0.7, 0.3, 0.0], 10_000) == pytest.approx(
        debiased_psi([57, 43], [0.7, 0.3], 10_000), abs=1e-4
    )
