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
