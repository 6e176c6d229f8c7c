"""MLflow, imported once and quietly: its import warns about its own dependencies, which are not the
trainer's to fix (and a test suite that turns warnings into errors would fail on them)."""

from __future__ import annotations

import functools
import warnings
from types import ModuleType


@functools.cache
def quiet_mlflow() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

    return mlflow
