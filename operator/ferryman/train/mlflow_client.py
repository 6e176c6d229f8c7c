"""MLflow, imported once and quietly: its import warns about its own dependencies, which are not the
trainer's to fix (and a test suite that turns warnings into errors would fail on them); and its usage
telemetry, which would send events from the training container to a third party, is off unless the
user turns it on (MLFLOW_DISABLE_TELEMETRY=false)."""

from __future__ import annotations

import functools
import os
import warnings
from types import ModuleType


@functools.cache
def quiet_mlflow() -> ModuleType:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read when mlflow is imported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

    return mlflow
