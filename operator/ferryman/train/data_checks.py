"""The TrainingJob's declarative data checks (spec.validation.data) evaluated on a pandas DataFrame.

Pure: the frame in, one result per check out. A statistic that cannot be computed (the mean of a column
with no values) is a failed check with a message saying why, never an exception: the operator shows it
in status like any other failed check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ferryman.api.trainingjob import DataCheck
from ferryman.train.context import ContractError


class DataCheckFailed(Exception):
    """One or more data checks failed; the message names each check, its column, value and bounds."""

    def __init__(self, failed: Sequence[CheckResult]) -> None:
        self.failed = list(failed)
        super().__init__("data checks failed: " + "; ".join(result.message for result in self.failed))


class MissingColumn(ContractError):
    """A check names a column the frame does not have (a spec or data mistake, not a failed check):
    no retry of the Job can fix it, so run_trainer exits with the contract's code."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: the measured value (None when it cannot be measured) against its bounds."""

    name: str
    check: str
    column: str | None
    value: float | None
    passed: bool
    message: str


def run_data_checks(frame: pd.DataFrame, checks: Sequence[DataCheck]) -> list[CheckResult]:
    """Evaluate every check; raises MissingColumn (naming the check and the frame's columns) first."""
    repeated = sorted({repr(name) for name in frame.columns[frame.columns.duplicated()]})
    if repeated:  # frame[name] would be a frame, not a column: an AttributeError deep in a statistic
        raise MissingColumn(f"the data has repeated column names {', '.join(repeated)}; rename them first")
    for check in checks:
        if check.column is not None and check.column not in frame.columns:
            raise MissingColumn(
                f"data check {check.name!r} ({check.check}) names column {check.column!r}, which the data "
                f"does not have; its columns are {[name for name in frame.columns]}"
            )
    return [evaluate(frame, check) for check in checks]


def evaluate(frame: pd.DataFrame, check: DataCheck) -> CheckResult:
    """One check against a frame that has its column."""
    value, why_not = _measure(frame, check)
    of_column = f" of column {check.column!r}" if check.column else ""
    where = f"data check {check.name!r} ({check.check}{of_column})"
    bounds = _bounds_text(check)
    if value is None:
        return CheckResult(check.name, check.check, check.column, None, False, f"{where}: {why_not}")
    passed = (check.min is None or value >= check.min) and (check.max is None or value <= check.max)
    verdict = "within" if passed else "outside"
    message = f"{where} = {value:g}, {verdict} {bounds}"
    return CheckResult(check.name, check.check, check.column, value, passed, message)


def _measure(frame: pd.DataFrame, check: DataCheck) -> tuple[float | None, str]:
    if check.check == "rowCount":
        return float(len(frame)), ""
    column = frame[check.column]
    if column.empty:
        # No rows vouch for nothing: a check on an empty frame fails rather than passing vacuously.
        return None, "the data has no rows"
    if check.check == "nullFraction":
        return float(column.isna().mean()), ""
    present = column.dropna()
    if present.empty:
        return None, "the column has no non-null values, so the statistic cannot be computed"
    if check.check == "uniqueFraction":  # distinct non-null values per non-null value
        return float(present.nunique() / len(present)), ""
    if not pd.api.types.is_numeric_dtype(present) or pd.api.types.is_bool_dtype(present):
        return None, f"the column holds {present.dtype} values, not numbers"
    statistic = {"mean": present.mean, "min": present.min, "max": present.max}[check.check]()
    value = float(statistic)
    return (value, "") if math.isfinite(value) else (None, f"the statistic is {value}, not a finite number")


def _bounds_text(check: DataCheck) -> str:
    if check.min is not None and check.max is not None:
        return f"[{check.min:g}, {check.max:g}]"
    if check.min is not None:
        return f"min {check.min:g}"
    return f"max {check.max:g}"
