"""Reading the monitor's one query: cumulative buckets to per-bin counts, reference, what is missing."""

from __future__ import annotations

import pytest

from ferryman.drift.window import PREDICTION, per_bin, unknown_features, window_from_series

pytestmark = pytest.mark.unit


def series(source: str, le: str | None = None, feature: str | None = None) -> dict[str, str]:
    labels = {"source": source}
    if le is not None:
        labels["le"] = le
    if feature is not None:
        labels["feature"] = feature
    return labels


ANSWER = [
    (series("live", "0.5", "amount"), 30.0),
    (series("live", "+Inf", "amount"), 100.0),
    (series("reference", "0.5", "amount"), 0.5),
    (series("reference", "+Inf", "amount"), 0.5),
    (series("live", "0.2"), 10.0),  # the prediction has no feature label
    (series("live", "+Inf"), 100.0),
    (series("reference", "0.2"), 0.1),
    (series("reference", "+Inf"), 0.9),
    (series("samples"), 5000.0),
    (series("ready"), 1.0),
]


def test_cumulative_buckets_become_per_bin_counts() -> None:
    assert per_bin({0.5: 30.0, 1.0: 80.0, float("inf"): 100.0}) == (30.0, 50.0, 20.0)


def test_out_of_order_extrapolated_buckets_read_as_an_empty_bin() -> None:
    """increase() extrapolates each bucket alone: 30.2 then 30.0 must not give a negative count."""
    assert per_bin({0.5: 30.2, 1.0: 30.0, float("inf"): 40.0}) == (30.2, 0.0, pytest.approx(9.8))


def test_features_and_prediction_are_grouped_with_their_reference() -> None:
    window = window_from_series(ANSWER, None)
    assert [f.name for f in window.features] == ["amount", PREDICTION]
    amount = window.features[0]
    assert amount.live_counts == (30.0, 70.0) and amount.reference_proportions == (0.5, 0.5)
    assert window.features[1].live_counts == (10.0, 90.0)
    assert window.reference_samples == 5000.0 and window.pods_seen and window.profile_seen


def test_live_bins_that_differ_from_the_reference_are_reported_not_compared() -> None:
    answer = [*ANSWER, (series("live", "0.7", "amount"), 50.0)]
    window = window_from_series(answer, None)
    assert window.mismatched == ["amount"]


def test_features_the_profile_lacks_are_named() -> None:
    window = window_from_series(ANSWER, ["amount", "age"])
    assert unknown_features(window, ["amount", "age"]) == ["age"]


def test_pods_without_a_profile_are_told_apart_from_no_pods() -> None:
    """A model served without profile.json exports no histograms but is ready; no series at all means
    the stable pods are not scraped (or not there)."""
    without_profile = window_from_series([(series("ready"), 1.0)], None)
    assert without_profile.pods_seen and not without_profile.profile_seen
    nothing = window_from_series([], None)
    assert not nothing.pods_seen and not nothing.profile_seen
