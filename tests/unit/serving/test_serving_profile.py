"""The reference profile format: quantile edges, proportions, the `le` binning rule, JSON round trip."""

import re

import numpy as np
import pytest
from pydantic import ValidationError

from ferryman_serving.profile import (
    PROFILE_FORMAT,
    bin_indices,
    build_profile,
    profile_from_json,
    profile_to_json,
    quantile_edges,
)

pytestmark = pytest.mark.unit


def test_edges_are_the_deciles_of_the_training_data() -> None:
    """With 10 bins the interior edges are the 10%..90% quantiles, ascending."""
    values = np.arange(1, 1001, dtype=np.float64)
    edges = quantile_edges(values, 10)
    assert edges == pytest.approx(np.quantile(values, np.linspace(0.1, 0.9, 9)).tolist())


def test_proportions_describe_the_training_data() -> None:
    """Each feature has len(edges)+1 proportions summing to 1; equal-frequency bins get about 10% each."""
    rng = np.random.default_rng(1)
    profile = build_profile(rng.standard_normal((5000, 3)), n_bins=10)
    for feature in profile.features:
        assert len(feature.proportions) == len(feature.edges) + 1 == 10
        assert sum(feature.proportions) == pytest.approx(1.0)
        assert max(feature.proportions) < 0.11


def test_a_value_equal_to_an_edge_falls_in_the_lower_bin() -> None:
    """Bins follow Prometheus `le`: bin i holds edge[i-1] < x <= edge[i]; NaN goes to the overflow bin."""
    indices = bin_indices(np.array([0.0, 1.0, 1.5, 2.0, 3.0, np.nan]), [1.0, 2.0])
    assert indices.tolist() == [0, 0, 1, 1, 2, 2]


def test_constant_feature_keeps_one_edge() -> None:
    """Duplicate quantiles collapse, so a constant column has a single edge and all mass in bin 0."""
    profile = build_profile(np.ones((100, 1)), n_bins=10)
    assert profile.features[0].edges == [1.0]
    assert profile.features[0].proportions == [1.0, 0.0]


def test_profile_round_trips_through_json() -> None:
    """What save writes, load reads back unchanged, names and prediction included."""
    rng = np.random.default_rng(2)
    features = rng.standard_normal((200, 2))
    profile = build_profile(
        features, features.sum(axis=1), feature_names=["age", "amount"], input_name="x", prediction_output="y"
    )
    again = profile_from_json(profile_to_json(profile))
    assert again == profile
    assert again.format == PROFILE_FORMAT
    assert [f.name for f in again.features] == ["age", "amount"]
    assert again.prediction is not None and again.prediction.output == "y"


def test_profile_with_unordered_edges_is_rejected_with_the_reason() -> None:
    """A hand-edited profile with descending edges fails validation and says why."""
    text = (
        f'{{"format": "{PROFILE_FORMAT}", "n_samples": 5, '
        '"features": [{"name": "a", "edges": [2.0, 1.0], "proportions": [0.2, 0.3, 0.5]}]}'
    )
    with pytest.raises(ValidationError, match="strictly ascending"):
        profile_from_json(text)


def test_unknown_format_is_rejected() -> None:
    """A file of another format version is refused instead of being misread."""
    with pytest.raises(ValidationError, match="unsupported profile format"):
        profile_from_json('{"format": "other/v9", "n_samples": 1, "features": []}')


def test_feature_names_must_match_columns() -> None:
    """Naming 2 features for a 3-column matrix is an error, not a silent mislabel."""
    with pytest.raises(ValueError, match="2 feature names for 3 feature columns"):
        build_profile(np.zeros((4, 3)), feature_names=["a", "b"])


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["amount", "prediction"], "feature names 'prediction' are taken by the drift monitor's own series"),
        (["accuracy", "b"], "feature names 'accuracy' are taken"),
        # Said "'' are taken by the drift monitor's own series".
        (["a", ""], "the feature at index 1 has an empty name; name every feature"),
        (["a", "b", "a"], "feature names must be distinct; repeated: ['a']"),
        (["a", "b" * 254, "c"], "at most 253 characters"),
    ],
)
def test_feature_names_the_drift_monitor_cannot_tell_apart_are_refused(
    names: list[str], message: str
) -> None:
    """Before, a feature named "prediction" was overwritten by the prediction histogram (drift of PSI 1.8
    reported as Healthy), "accuracy" shared the accuracy series' streak, and repeats merged."""
    with pytest.raises(ValueError, match=re.escape(message)):
        build_profile(np.zeros((4, len(names))), feature_names=names)


@pytest.mark.parametrize(
    ("proportions", "message"),
    [
        ("[0.5, -0.1, 0.6]", "none negative"),
        ('[0.5, "NaN", 0.5]', "finite numbers"),
        ("[0.0, 0.0, 0.0]", "must sum to 1"),
        ("[10, 20, 70]", "must sum to 1"),
    ],
)
def test_proportions_that_are_not_a_distribution_are_rejected(proportions: str, message: str) -> None:
    """The drift monitor divides by these shares: a negative, NaN or unnormalised profile is refused at
    load, naming the rule, instead of failing each of the monitor's ticks."""
    text = (
        f'{{"format": "{PROFILE_FORMAT}", "n_samples": 5, '
        f'"features": [{{"name": "a", "edges": [1.0, 2.0], "proportions": {proportions}}}]}}'
    )
    with pytest.raises(ValidationError, match=message):
        profile_from_json(text)


def test_shares_rounded_by_hand_are_accepted() -> None:
    """Three thirds written as 0.333 sum to 0.999: a distribution all the same."""
    text = (
        f'{{"format": "{PROFILE_FORMAT}", "n_samples": 5, '
        '"features": [{"name": "a", "edges": [1.0, 2.0], "proportions": [0.333, 0.333, 0.333]}]}'
    )
    assert profile_from_json(text).features[0].proportions == [0.333, 0.333, 0.333]


def test_string_class_labels_as_predictions_are_refused_with_the_way_out() -> None:
    """A classifier trained on string labels predicts strings first; numpy's quantile raised a TypeError
    that named neither the output nor what to profile instead."""
    with pytest.raises(ValueError, match=r"are <U5 .*prediction_output='probabilities', prediction_column=1"):
        build_profile(
            np.zeros((4, 2)), np.array(["fraud", "legit", "legit", "fraud"]), prediction_output="label"
        )


@pytest.mark.parametrize("column", [2, 5, -1])
def test_a_prediction_column_the_output_lacks_is_refused_naming_the_range(column: int) -> None:
    """It raised numpy's IndexError, naming no argument (and -1 silently took the last column)."""
    with pytest.raises(
        ValueError, match=rf"prediction_column {column}: probabilities has 2 columns; .* 0 to 1"
    ):
        build_profile(
            np.zeros((4, 2)),
            np.full((4, 2), 0.5),
            prediction_output="probabilities",
            prediction_column=column,
        )


def test_string_features_are_refused_naming_the_dtype() -> None:
    with pytest.raises(ValueError, match=r"features must be numbers .* got dtype <U1"):
        build_profile(np.array([["a", "b"], ["c", "d"]]))
