"""A Great Expectations suite, for users who have one, validated on the training DataFrame.

Each expectation becomes a CheckResult like the TrainingJob's own checks, so it is logged as
`data_check.<name>` and a failed one stops the run the same way. Needs the `gx` extra
(great-expectations >= 1.0); imported only when a suite is given.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from ferryman.train.data_checks import CheckResult


@functools.cache
def quiet_gx() -> ModuleType:
    """great_expectations, imported with its import-time deprecation warnings (from its own code) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations
        import great_expectations.data_context.types.base  # ProgressBarsConfig, used below

    return great_expectations


def load_suite(suite: Any) -> Any:
    """An ExpectationSuite from itself, its JSON dict, or a path to its JSON file."""
    gx = quiet_gx()

    if isinstance(suite, gx.ExpectationSuite):
        return suite
    if isinstance(suite, str | Path):
        suite = json.loads(Path(suite).read_text(encoding="utf-8"))
    if not isinstance(suite, Mapping):
        raise TypeError(
            f"a GX suite is an ExpectationSuite, its JSON dict or a path, not {type(suite).__name__}"
        )
    fields = {key: suite[key] for key in ("name", "expectations", "meta") if key in suite}
    return gx.ExpectationSuite(**fields)


def run_gx_suite(frame: pd.DataFrame, suite: Any) -> list[CheckResult]:
    """Validate frame against the suite in an in-memory (ephemeral) GX context: nothing written to disk."""
    gx = quiet_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("ferryman").add_dataframe_asset(name="training")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(load_suite(suite))
    return [_result_of(item) for item in validation.results]


def _result_of(item: Any) -> CheckResult:
    config = item.expectation_config
    kind = str(config.type)
    column = config.kwargs.get("column")
    name = kind.removeprefix("expect_") + (f".{column}" if column else "")
    value = _value_of(item.result or {})
    bounds = {k: v for k, v in config.kwargs.items() if k not in ("column", "batch_id")}
    shown = "not measured" if value is None else f"{value:g}"
    on_column = f" on column {column!r}" if column else ""
    verdict = "met" if item.success else "NOT met"
    message = f"GX expectation {kind}{on_column} {verdict}: value {shown}, expected {bounds}"
    return CheckResult(name, kind, column, value, bool(item.success), message)


def _value_of(result: Mapping[str, Any]) -> float | None:
    """The observed statistic when GX gives a number, else the fraction of unexpected rows."""
    observed = result.get("observed_value")
    if isinstance(observed, int | float) and not isinstance(observed, bool) and math.isfinite(observed):
        return float(observed)
    if isinstance(result.get("unexpected_percent"), int | float):
        return float(result["unexpected_percent"]) / 100.0
    return None
