"""A Great Expectations suite becomes data-check results like the TrainingJob's own checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ferryman.train.gx_checks import run_gx_suite

pytestmark = pytest.mark.unit

FRAME = pd.DataFrame({"age": [20.0, 30.0, None, 50.0]})
SUITE = {
    "name": "training-data",
    "expectations": [
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "age", "min_value": 0, "max_value": 40},
        },
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    ],
}


def test_each_expectation_is_a_result_with_its_observed_value() -> None:
    mean, not_null = run_gx_suite(FRAME, SUITE)
    assert (mean.name, mean.column, mean.passed) == ("column_mean_to_be_between.age", "age", True)
    assert mean.value == pytest.approx(100 / 3)
    assert (not_null.name, not_null.passed) == ("column_values_to_not_be_null.age", False)
    assert not_null.value == pytest.approx(0.25), "the fraction of unexpected rows"
    assert not_null.message == (
        "GX expectation expect_column_values_to_not_be_null on column 'age' NOT met: value 0.25, expected {}"
    )


def test_suite_is_read_from_its_json_file(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(SUITE))
    assert [r.passed for r in run_gx_suite(FRAME, path)] == [True, False]


def test_something_else_than_a_suite_is_refused() -> None:
    with pytest.raises(TypeError, match="not int"):
        run_gx_suite(FRAME, 3)
