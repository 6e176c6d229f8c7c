"""Feature columns to the model's input dtype: which Arrow types are read, and the errors for the rest."""

import re
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from ferryman_serving.batch.scoring import BatchScoringError, column_values

pytestmark = pytest.mark.unit

FLOAT32 = np.dtype(np.float32)
INT64 = np.dtype(np.int64)


def test_a_decimal_column_is_read_as_floats_by_a_float_model() -> None:
    """DECIMAL(10, 2), as Spark and SQL exports write money; before, it was refused as "not numeric"."""
    column = pa.array([Decimal("12.50"), None, Decimal("-0.01")], type=pa.decimal128(10, 2))
    values = column_values(column, "amount", FLOAT32)
    np.testing.assert_array_equal(values, [12.5, np.nan, -0.01])


def test_a_decimal_column_for_an_integer_model_names_the_cast_to_make() -> None:
    column = pa.array([Decimal("3")], type=pa.decimal128(5, 0))
    message = "'count' is decimal128(5, 0) and the model takes int64; cast the column to an integer type"
    with pytest.raises(BatchScoringError, match=re.escape(message)):
        column_values(column, "count", INT64)


@pytest.mark.parametrize(
    ("column", "dtype", "message"),
    [
        (pa.array(["1.5"]), FLOAT32, "feature column 'x' is string; it must be numeric"),
        (pa.array([1, None]), INT64, "'x' has 1 null(s) and the model takes integers"),
    ],
)
def test_columns_a_model_cannot_take_are_refused_by_name(
    column: pa.Array, dtype: np.dtype[np.generic], message: str
) -> None:
    with pytest.raises(BatchScoringError, match=re.escape(message)):
        column_values(column, "x", dtype)


def test_nulls_become_nan_for_a_float_model() -> None:
    np.testing.assert_array_equal(column_values(pa.array([1, None, 3]), "x", FLOAT32), [1.0, np.nan, 3.0])


def test_a_column_with_no_value_in_the_file_is_all_nan_for_a_float_model() -> None:
    """pyarrow types an all-empty CSV column as null; it was refused as "null; it must be numeric"."""
    np.testing.assert_array_equal(column_values(pa.nulls(3), "x", FLOAT32), [np.nan, np.nan, np.nan])
    with pytest.raises(BatchScoringError, match=re.escape("has 3 null(s) and the model takes integers")):
        column_values(pa.nulls(3), "x", np.dtype(np.int64))


@pytest.mark.parametrize(
    ("column", "dtype", "message"),
    [
        (pa.array([2.0, 1.5]), INT64, "'x' holds fractions or non-finite values and the model takes int64"),
        (pa.array([2.0, float("nan")]), INT64, "'x' holds fractions or non-finite values"),
        (pa.array([3, 300]), np.dtype(np.int8), "'x' holds values outside the int8 range [-128, 127]"),
        (pa.array([1.0, 1e300]), FLOAT32, "'x' holds 1e+300, beyond the float32 range of the model input"),
        (pa.array([-3.4028235677973366e38]), FLOAT32, "beyond the float32 range"),  # rounds to -inf
    ],
)
def test_values_the_copy_would_change_are_refused_as_the_json_codec_refuses_them(
    column: pa.Array, dtype: np.dtype[np.generic], message: str
) -> None:
    """Before, numpy's casts made 1.5 a 1, 300 a 44 and 1e300 an infinity, and batch wrote the answers for
    those; the online server refuses the same values with a 400."""
    with pytest.raises(BatchScoringError, match=re.escape(message)):
        column_values(column, "x", dtype)


@pytest.mark.parametrize(
    ("column", "dtype", "expected"),
    [
        (pa.array([2.0, -3.0]), INT64, [2, -3]),  # whole floats are integers
        (pa.array([True, False]), FLOAT32, [1.0, 0.0]),  # a boolean column is 1 and 0
        (pa.array([1.0, float("inf"), None]), FLOAT32, [1.0, np.inf, np.nan]),  # as written; null is NaN
        (pa.array([3, 127]), np.dtype(np.int8), [3, 127]),
        # FP32's largest value as numpy prints it: rounds to that value, not to infinity
        (pa.array([3.4028235e38]), FLOAT32, [np.finfo(np.float32).max]),
    ],
)
def test_values_that_fit_are_kept(
    column: pa.Array, dtype: np.dtype[np.generic], expected: list[float]
) -> None:
    np.testing.assert_array_equal(column_values(column, "x", dtype).astype(dtype), expected)
