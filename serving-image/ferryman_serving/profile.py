"""The reference profile: per-feature quantile bin edges and proportions from training data.

This module is the single definition of the file format. The serving image reads it to choose histogram
bucket edges; the training SDK writes it beside the model (`profile.json` next to `model.onnx`); the
operator's drift monitor compares live bucket increases with `proportions`. Pure code: numpy, pydantic.

Binning rule (the same as Prometheus histograms, `le` = less or equal): with interior edges
e_0 < e_1 < ... < e_{k-1}, bin 0 holds x <= e_0, bin i holds e_{i-1} < x <= e_i, bin k holds x > e_{k-1}
(and NaN). So `proportions` has len(edges) + 1 entries summing to 1.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROFILE_FORMAT = "ferryman.dev/reference-profile/v1"
PROFILE_FILENAME = "profile.json"
NUMERIC_KINDS = "biuf"  # numpy dtype kinds that have an order to bin: bool, int, uint, float
PROPORTIONS_SUM_TOLERANCE = 0.01  # hand-written shares rounded to 2-3 decimals still pass


class BinnedDistribution(BaseModel):
    """Edges (ascending, distinct) and the share of reference samples in each of the len(edges)+1 bins."""

    model_config = ConfigDict(frozen=True)

    edges: list[float] = Field(description="Interior bin edges, strictly ascending, finite.")
    proportions: list[float] = Field(description="Share of reference samples per bin; len(edges)+1 values.")

    @model_validator(mode="after")
    def _check_shape(self) -> BinnedDistribution:
        if any(not np.isfinite(e) for e in self.edges):
            raise ValueError("edges must be finite numbers")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be strictly ascending")
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError(
                f"proportions needs len(edges)+1 = {len(self.edges) + 1} values, got {len(self.proportions)}"
            )
        if any(not np.isfinite(p) or p < 0 for p in self.proportions):
            raise ValueError("proportions must be finite numbers, none negative")
        total = sum(self.proportions)
        if abs(total - 1.0) > PROPORTIONS_SUM_TOLERANCE:
            # The drift monitor compares live shares with these; a profile that is not a distribution
            # (all zeros, counts instead of shares) made every one of its ticks fail.
            raise ValueError(f"proportions must sum to 1 (shares of the reference rows), got {total:.6g}")
        return self


class FeatureProfile(BinnedDistribution):
    """One input feature (one column of the model's feature input)."""

    name: str = Field(description="Feature name; used as the `feature` label of ferryman_feature_value.")


class PredictionProfile(BinnedDistribution):
    """The model output whose values feed the prediction histogram."""

    output: str | None = Field(default=None, description="Output tensor name; None = the model's first.")
    column: int | None = Field(
        default=None, description="Column of a 2-D output to use (e.g. 1 = positive-class probability)."
    )


class ReferenceProfile(BaseModel):
    """The whole profile file."""

    model_config = ConfigDict(frozen=True)

    format: str = Field(default=PROFILE_FORMAT, description="Format identifier and version.")
    n_samples: int = Field(ge=1, description="Number of reference (training) rows the profile summarises.")
    input: str | None = Field(
        default=None, description="Model input holding the [batch, features] matrix; None = the first."
    )
    features: list[FeatureProfile] = Field(description="One entry per column, in column order.")
    prediction: PredictionProfile | None = Field(default=None, description="Prediction distribution.")

    @model_validator(mode="after")
    def _check_format(self) -> ReferenceProfile:
        if self.format != PROFILE_FORMAT:
            raise ValueError(f"unsupported profile format {self.format!r}; expected {PROFILE_FORMAT!r}")
        return self


def quantile_edges(values: np.ndarray, n_bins: int) -> list[float]:
    """Interior edges at the 1/n_bins ... (n_bins-1)/n_bins quantiles, duplicates removed."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    quantiles = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return [float(e) for e in np.unique(np.quantile(finite.astype(np.float64), quantiles))]


def bin_indices(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin index of each value under the `le` rule; NaN lands in the last (overflow) bin."""
    edge_array = np.asarray(edges, dtype=np.float64)
    indices: np.ndarray = np.sum(~(values.astype(np.float64)[..., None] <= edge_array), axis=-1)
    return indices


def proportions_in_bins(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of values per bin (len(edges)+1 entries)."""
    counts = np.bincount(bin_indices(values, edges), minlength=len(edges) + 1)
    return [float(c) for c in counts / max(values.size, 1)]


def distribution_of(values: np.ndarray, n_bins: int) -> tuple[list[float], list[float]]:
    """Quantile edges of values and the proportions of values in the resulting bins."""
    edges = quantile_edges(values, n_bins)
    return edges, proportions_in_bins(values, edges)


def build_profile(
    features: np.ndarray,
    predictions: np.ndarray | None = None,
    n_bins: int = 10,
    feature_names: Sequence[str] | None = None,
    input_name: str | None = None,
    prediction_output: str | None = None,
    prediction_column: int | None = None,
) -> ReferenceProfile:
    """Profile a [rows, features] training matrix (and optionally the model's predictions on it)."""
    matrix = np.asarray(features)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"features must be a non-empty 2-D array [rows, features], got shape {matrix.shape}")
    if matrix.dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"features must be numbers (bins are ranges of values), got dtype {matrix.dtype}")
    names = list(feature_names) if feature_names is not None else [str(i) for i in range(matrix.shape[1])]
    if len(names) != matrix.shape[1]:
        raise ValueError(f"{len(names)} feature names for {matrix.shape[1]} feature columns")
    _check_feature_names(names)
    profiles = []
    for index, name in enumerate(names):
        edges, proportions = distribution_of(matrix[:, index], n_bins)
        profiles.append(FeatureProfile(name=name, edges=edges, proportions=proportions))
    prediction = None
    if predictions is not None:
        values = np.asarray(predictions)
        if values.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(
                f"the predictions of {prediction_output or 'the first output'} are {values.dtype} (class "
                "labels?), and the prediction histogram bins numbers: choose a numeric output, e.g. the "
                "class probabilities with prediction_output='probabilities', prediction_column=1"
            )
        if prediction_column is not None:
            values = values.reshape(values.shape[0], -1)
            if not 0 <= prediction_column < values.shape[1]:
                raise ValueError(
                    f"prediction_column {prediction_column}: {prediction_output or 'the first output'} has "
                    f"{values.shape[1]} columns; choose one from 0 to {values.shape[1] - 1}"
                )
            values = values[:, prediction_column]
        edges, proportions = distribution_of(values.ravel(), n_bins)
        prediction = PredictionProfile(
            output=prediction_output, column=prediction_column, edges=edges, proportions=proportions
        )
    return ReferenceProfile(
        n_samples=matrix.shape[0], input=input_name, features=profiles, prediction=prediction
    )


# The drift monitor reads the prediction's histogram as a series named "prediction" (Prometheus drops
# an empty label, so an empty name reads the same: refused first, as unnamed) and the delayed-label
# accuracy as "accuracy": a feature of one of these names would be merged with them and its drift hidden.
RESERVED_FEATURE_NAMES = ("prediction", "accuracy")
MAX_FEATURE_NAME = 253  # the drift monitor's status.featureScores[].feature


def _check_feature_names(names: Sequence[str]) -> None:
    if "" in names:
        index = list(names).index("")
        raise ValueError(f"the feature at index {index} has an empty name; name every feature")
    reserved = sorted({repr(n) for n in names if n in RESERVED_FEATURE_NAMES})
    if reserved:
        raise ValueError(
            f"feature names {', '.join(reserved)} are taken by the drift monitor's own series; rename them"
        )
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    if repeated:
        raise ValueError(f"feature names must be distinct; repeated: {repeated}")
    too_long = [n[:40] + "..." for n in names if len(n) > MAX_FEATURE_NAME]
    if too_long:
        raise ValueError(f"feature names must be at most {MAX_FEATURE_NAME} characters: {too_long}")


def profile_to_json(profile: ReferenceProfile) -> str:
    """Serialise a profile (stable key order, human-diffable)."""
    return json.dumps(profile.model_dump(mode="json"), indent=1)


def profile_from_json(text: str | bytes) -> ReferenceProfile:
    """Parse and validate a profile; raises pydantic.ValidationError naming the bad field."""
    return ReferenceProfile.model_validate_json(text)


def save_profile(profile: ReferenceProfile, path: Path) -> None:
    """Write a profile file (usually `profile.json` beside `model.onnx`)."""
    path.write_text(profile_to_json(profile), encoding="utf-8")


def load_profile(path: Path) -> ReferenceProfile:
    """Read a profile file."""
    return profile_from_json(path.read_bytes())
