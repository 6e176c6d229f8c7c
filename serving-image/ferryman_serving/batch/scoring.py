"""Score record batches with the served model: the online server's session options (OnnxModel) and its
datatype mapping (the model input's OIP datatype decides the numpy dtype, as the JSON codec does), so a
row scored in batch gets the same answer as the same row posted to /infer.

Scope: models with one [batch, features] numeric input (the shape the reference profile describes).
Output columns: a 1-D output, or a 2-D output with one column, is one column named after the output;
a 2-D output with k columns becomes `<output>_0` ... `<output>_{k-1}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ferryman_serving.batch.drift import BinCounts
from ferryman_serving.datatypes import numpy_dtype_of, overflow_threshold
from ferryman_serving.model import OnnxModel, TensorSpec
from ferryman_serving.profile import ReferenceProfile

TRANSPOSE_BLOCK_ROWS = 4096


class BatchScoringError(Exception):
    """The data does not fit the model; the message names the column or option to change."""


@dataclass(frozen=True)
class FeatureBinding:
    """Which input columns, in which order, form the model's feature matrix."""

    input_name: str
    columns: tuple[str, ...]
    dtype: np.dtype[np.generic]


def bind_features(
    model: OnnxModel, profile: ReferenceProfile | None, columns: Sequence[str] | None
) -> FeatureBinding:
    """The feature columns: those given, else the profile's feature names (training order)."""
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 2:
        shapes = {spec.name: list(spec.shape) for spec in model.inputs}
        raise BatchScoringError(
            f"batch scoring needs a model with one [batch, features] input; this model has {shapes}"
        )
    spec: TensorSpec = model.inputs[0]
    dtype = numpy_dtype_of(spec.datatype)
    if dtype is None or dtype.kind not in "fiub":
        raise BatchScoringError(f"model input {spec.name!r} is {spec.datatype}; batch scores numeric inputs")
    if columns:
        chosen = tuple(columns)
    elif profile is not None:
        chosen = tuple(f.name for f in profile.features)
    else:
        raise BatchScoringError(
            "the model has no profile.json naming its features; pass the feature columns in order "
            "(--features f0,f1,... or spec.batch.features)"
        )
    width = spec.shape[1]
    if width >= 0 and width != len(chosen):
        raise BatchScoringError(
            f"model input {spec.name!r} takes {width} features; {len(chosen)} columns given"
        )
    return FeatureBinding(spec.name, chosen, dtype)


class BatchScorer:
    """Scores record batches and counts feature and prediction histograms on the profile's edges."""

    def __init__(
        self,
        model: OnnxModel,
        profile: ReferenceProfile | None,
        features: Sequence[str] | None = None,
        passthrough: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.profile = profile
        self.binding = bind_features(model, profile, features)
        self.passthrough = tuple(passthrough)
        self.rows = 0
        self.feature_counts = _feature_counts(profile, self.binding)
        self.prediction_counts = (
            BinCounts([profile.prediction.edges]) if profile and profile.prediction else None
        )

    @property
    def input_columns(self) -> list[str]:
        """Columns to read from the input (features, then pass-through columns not already read)."""
        extra = [c for c in self.passthrough if c not in self.binding.columns]
        return [*self.binding.columns, *extra]

    def features_of(self, batch: pa.RecordBatch) -> np.ndarray:
        """The [rows, features] matrix in the model input's dtype."""
        missing = [c for c in self.input_columns if c not in batch.schema.names]
        if missing:
            raise BatchScoringError(
                f"input has no column(s) {missing}; of the feature and pass-through columns asked for, it "
                f"has {batch.schema.names}"
            )
        by_column = np.empty((len(self.binding.columns), batch.num_rows), dtype=self.binding.dtype)
        for index, name in enumerate(self.binding.columns):
            by_column[index] = column_values(batch.column(name), name, self.binding.dtype)
        # session.run wants rows contiguous; transposing in blocks that fit the cache is 4x faster than
        # filling a row-major matrix column by column (strided writes).
        matrix = np.empty((batch.num_rows, len(self.binding.columns)), dtype=self.binding.dtype)
        for start in range(0, batch.num_rows, TRANSPOSE_BLOCK_ROWS):
            matrix[start : start + TRANSPOSE_BLOCK_ROWS] = by_column[
                :, start : start + TRANSPOSE_BLOCK_ROWS
            ].T
        return matrix

    def score(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Pass-through columns, then one column per model output value; counts rows and histograms."""
        matrix = self.features_of(batch)
        results = self.model.run({self.binding.input_name: matrix}, self.model.output_names)
        self._observe(matrix, results)
        self.rows += batch.num_rows
        return self._output_batch(batch, results)

    def output_schema(self, sample: pa.RecordBatch) -> pa.Schema:
        """The output schema, from scoring one row of sample without counting it (an empty shard's part)."""
        one_row = sample.slice(0, 1)
        results = self.model.run(
            {self.binding.input_name: self.features_of(one_row)}, self.model.output_names
        )
        return self._output_batch(one_row, results).schema

    def _output_batch(self, batch: pa.RecordBatch, results: list[np.ndarray]) -> pa.RecordBatch:
        arrays: list[pa.Array] = [batch.column(name) for name in self.passthrough]
        names = list(self.passthrough)
        for output, values in zip(self.model.output_names, results, strict=True):
            for column_name, column in _output_columns(output, values):
                if column_name in self.passthrough:  # two columns of one name: a file no reader takes
                    raise BatchScoringError(
                        f"pass-through column {column_name!r} has the name of a model output column; "
                        "leave it out of --passthrough (spec.batch.passthrough) or rename it in the input"
                    )
                names.append(column_name)
                arrays.append(pa.array(column))
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _observe(self, matrix: np.ndarray, results: list[np.ndarray]) -> None:
        if self.feature_counts is not None:
            self.feature_counts.observe(matrix)
        if self.prediction_counts is not None and self.profile is not None and self.profile.prediction:
            values = _prediction_values(self.model, self.profile, results)
            if values is not None:
                self.prediction_counts.observe(values.reshape(-1, 1))


def _feature_counts(profile: ReferenceProfile | None, binding: FeatureBinding) -> BinCounts | None:
    if profile is None or [f.name for f in profile.features] != list(binding.columns):
        return None  # the profile's bins describe other columns: no drift numbers rather than wrong ones
    return BinCounts([f.edges for f in profile.features])


def _prediction_values(
    model: OnnxModel, profile: ReferenceProfile, results: list[np.ndarray]
) -> np.ndarray | None:
    prediction = profile.prediction
    if prediction is None:
        return None
    name = prediction.output or model.output_names[0]
    if name not in model.output_names:
        return None
    values = results[model.output_names.index(name)]
    if prediction.column is not None and values.ndim == 2:
        values = values[:, prediction.column]
    return values.reshape(-1) if values.dtype.kind in "fiub" else None


def column_values(column: pa.Array | pa.ChunkedArray, name: str, dtype: np.dtype[np.generic]) -> np.ndarray:
    """One feature column as numpy values for the model's input dtype; BatchScoringError says why not."""
    if pa.types.is_decimal(column.type):
        column = _decimal_as_float(column, name, dtype)
    if pa.types.is_null(column.type):
        # A CSV column with no value in this file is typed null: it is all missing, not "not numeric".
        column = column.cast(pa.float64())
    if not (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_boolean(column.type)
    ):
        raise BatchScoringError(f"feature column {name!r} is {column.type}; it must be numeric")
    if column.null_count and dtype.kind != "f":
        raise BatchScoringError(
            f"feature column {name!r} has {column.null_count} null(s) and the model takes integers"
        )
    # Nulls become NaN for float models (tree ensembles route NaN as missing; so does the online path).
    values = np.asarray(
        column.to_numpy(zero_copy_only=False), dtype=np.float64 if column.null_count else None
    )
    _check_values_fit(values, name, dtype)
    return values


def _check_values_fit(values: np.ndarray, name: str, dtype: np.dtype[np.generic]) -> None:
    """Refuse what the copy into the model's dtype would change silently, as the JSON codec refuses it:
    fractions and non-finite values for an integer input (1.5 -> 1), integers beyond its range (300 -> 44
    in INT8), finite values beyond a float input's range (1e300 -> inf in FP32)."""
    if not values.size or values.dtype == dtype:
        return
    if dtype.kind in "iu":
        if values.dtype.kind == "f" and not (
            np.isfinite(values).all() and (values == np.trunc(values)).all()
        ):
            raise BatchScoringError(
                f"feature column {name!r} holds fractions or non-finite values and the model takes "
                f"{dtype.name}; round or cast the column to integers before scoring"
            )
        info = np.iinfo(dtype)  # type: ignore[type-var]  # an integer dtype here
        if values.dtype.kind != "b" and (values.min() < info.min or values.max() > info.max):
            raise BatchScoringError(
                f"feature column {name!r} holds values outside the {dtype.name} range "
                f"[{info.min}, {info.max}] of the model input"
            )
    elif dtype.kind == "f" and values.dtype.kind == "f" and dtype.itemsize < values.dtype.itemsize:
        limit = overflow_threshold(dtype)
        # fmax/fmin skip NaN (missing values); an infinity is passed on as it was written.
        if np.fmax.reduce(values) >= limit or np.fmin.reduce(values) <= -limit:
            beyond = np.isfinite(values) & (np.abs(values) >= limit)
            if beyond.any():
                first = values[beyond][0].item()
                raise BatchScoringError(
                    f"feature column {name!r} holds {first!r}, beyond the {dtype.name} range of the model "
                    "input (it would become infinity); scale or clip the column"
                )


def _decimal_as_float(
    column: pa.Array | pa.ChunkedArray, name: str, dtype: np.dtype[np.generic]
) -> pa.Array | pa.ChunkedArray:
    # Spark and SQL exports write money and rates as DECIMAL; a float model reads them as floats (the
    # model computes in float32 anyway). An integer model would need rounding, which is the user's call.
    if dtype.kind != "f":
        raise BatchScoringError(
            f"feature column {name!r} is {column.type} and the model takes {dtype.name}; "
            "cast the column to an integer type before scoring"
        )
    return column.cast(pa.float64())


def _output_columns(output: str, values: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1):
        return [(output, values.reshape(-1))]
    if values.ndim == 2:
        return [(f"{output}_{i}", values[:, i]) for i in range(values.shape[1])]
    raise BatchScoringError(
        f"model output {output!r} has shape {list(values.shape)}; batch writes 1-D or 2-D outputs"
    )
