"""The TrainingJob's data checks on a pandas DataFrame: each kind, its bounds, and data that cannot be
measured (no rows, no values), which fails the check with a message instead of crashing the trainer."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from ferryman.api import training_contract as contract
from ferryman.api.trainingjob import DataCheck
from ferryman.train.data_checks import DataCheckFailed, MissingColumn, evaluate, run_data_checks
from ferryman.train.run import frame_sha256, run_trainer

pytestmark = pytest.mark.unit

FRAME = pd.DataFrame({"age": [20.0, 30.0, None, 50.0], "city": ["a", "b", "b", None]})


def check(kind: str, column: str | None = "age", **bounds: Any) -> DataCheck:
    return DataCheck(name=f"{kind}-check", check=kind, column=column, **bounds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "column", "expected"),
    [
        ("rowCount", None, 4.0),
        ("nullFraction", "age", 0.25),
        ("mean", "age", 100.0 / 3),
        ("min", "age", 20.0),
        ("max", "age", 50.0),
        ("uniqueFraction", "city", 2 / 3),  # distinct non-null values per non-null value
    ],
)
def test_each_kind_measures_its_statistic(kind: str, column: str | None, expected: float) -> None:
    """Every kind of the CRD computes the statistic its name says, on the non-null values."""
    result = evaluate(FRAME, check(kind, column, min=0))
    assert result.value == pytest.approx(expected)
    assert result.passed


@pytest.mark.parametrize(
    ("bounds", "passed"),
    [
        ({"min": 20.0}, True),  # bounds are inclusive
        ({"max": 20.0}, True),
        ({"min": 20.5}, False),
        ({"max": 19.5}, False),
        ({"min": 10.0, "max": 30.0}, True),
        ({"min": 21.0, "max": 30.0}, False),
    ],
)
def test_bounds_are_inclusive_and_either_may_be_missing(bounds: dict[str, float], passed: bool) -> None:
    assert evaluate(FRAME, check("min", **bounds)).passed is passed


def test_failed_check_message_names_check_column_value_and_bounds() -> None:
    result = evaluate(FRAME, check("max", min=0, max=40))
    assert not result.passed
    assert result.message == "data check 'max-check' (max of column 'age') = 50, outside [0, 40]"


def test_empty_frame_has_zero_rows_and_fails_column_checks_with_a_reason() -> None:
    """No rows vouch for nothing: a column statistic on an empty frame fails rather than passing."""
    empty = FRAME.iloc[0:0]
    assert evaluate(empty, check("rowCount", None, min=0)).value == 0.0
    for kind in ("nullFraction", "mean", "min", "max", "uniqueFraction"):
        result = evaluate(empty, check(kind, max=1e9))
        assert (result.value, result.passed) == (None, False)
        assert "has no rows" in result.message


def test_all_null_column() -> None:
    """nullFraction is 1.0; mean/min/max/uniqueFraction cannot be computed and fail, naming why."""
    frame = pd.DataFrame({"age": [None, None, None]}, dtype="float64")
    assert evaluate(frame, check("nullFraction", max=1.0)).value == 1.0
    for kind in ("mean", "min", "max", "uniqueFraction"):
        result = evaluate(frame, check(kind, min=0))
        assert (result.value, result.passed) == (None, False)
        assert result.message == (
            f"data check '{kind}-check' ({kind} of column 'age'): the column has no non-null values, "
            "so the statistic cannot be computed"
        )


def test_numeric_statistic_of_a_text_column_fails_naming_the_type() -> None:
    result = evaluate(FRAME, check("mean", "city", min=0))
    assert not result.passed and "not numbers" in result.message


def test_infinite_values_fail_the_check() -> None:
    frame = pd.DataFrame({"age": [1.0, math.inf]})
    result = evaluate(frame, check("mean", min=0))
    assert not result.passed and "not a finite number" in result.message


def test_missing_column_is_an_error_naming_the_check_and_the_columns() -> None:
    with pytest.raises(MissingColumn, match=r"'height'.*'age', 'city'"):
        run_data_checks(FRAME, [check("mean", "height", min=0)])


def test_a_missing_column_exits_with_the_contract_code_so_the_job_is_not_retried() -> None:
    """No retry can add the column: exit 78 (podFailurePolicy fails the Job at once), not 1."""

    def train() -> None:
        run_data_checks(FRAME, [check("mean", "height", min=0)])

    assert run_trainer(train) == contract.EXIT_CONTRACT_ERROR


def test_results_come_in_spec_order_and_the_failure_lists_every_failed_check() -> None:
    results = run_data_checks(
        FRAME, [check("rowCount", None, min=10), check("min", min=0), check("max", max=1)]
    )
    assert [r.passed for r in results] == [False, True, False]
    error = DataCheckFailed([r for r in results if not r.passed])
    assert "rowCount-check" in str(error) and "max-check" in str(error) and "min-check" not in str(error)


def test_repeated_column_names_are_named_before_any_statistic() -> None:
    """frame["age"] of a frame with two "age" columns is a frame: an AttributeError deep in a statistic."""
    frame = pd.DataFrame([[1, 2, 3]], columns=["age", "age", "city"])
    with pytest.raises(MissingColumn, match="the data has repeated column names 'age'; rename them first"):
        run_data_checks(frame, [DataCheck(name="n", check="rowCount", min=1)])


def test_a_column_named_by_a_number_is_shown_as_one() -> None:
    """The check names "0" and the frame has the integer column 0: the message showed ['0'] for both."""
    frame = pd.DataFrame({0: [1.0]})
    with pytest.raises(MissingColumn, match=r"names column '0', .* its columns are \[0\]"):
        run_data_checks(frame, [DataCheck(name="n", check="nullFraction", column="0", max=0.1)])


def test_the_content_hash_takes_cells_pandas_cannot_hash() -> None:
    """A column of lists raised TypeError (unhashable) before any check ran."""
    frame = pd.DataFrame({"tags": [["a", "b"], ["c"]], "x": [1, 2]})
    assert frame_sha256(frame) == frame_sha256(frame.copy())
    assert frame_sha256(frame) != frame_sha256(pd.DataFrame({"tags": [["a"], ["c"]], "x": [1, 2]}))
