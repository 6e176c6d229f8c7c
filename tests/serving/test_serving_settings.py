"""Serving settings a server could not use: it exits 2 naming them, instead of a traceback or a pod that
retries forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


def test_a_log_level_in_lower_case_is_read_and_an_unknown_one_exits_2(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    """`verbose` passed the settings and crashed logging's setup with a traceback (exit 1)."""
    model_uri = f"file://{gradient_boosting.model_path}"
    with ServingProcess(logs_dir, model_uri=model_uri, drain_seconds="0", log_level="debug") as server:
        server.wait_ready()
    bad = ServingProcess(logs_dir, model_uri=model_uri, drain_seconds="0", log_level="verbose")
    try:
        assert bad.process.wait(timeout=30) == 2
        assert "invalid FERRYMAN_* settings" in bad.logs() and "FERRYMAN_LOG_LEVEL: " in bad.logs()
    finally:
        bad.stop()


def test_a_refused_setting_is_named_by_its_variable_with_what_it_is_for_and_not_its_value(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    """pydantic's own text named the field (merge_max_rows) and echoed the value."""
    model_uri = f"file://{gradient_boosting.model_path}"
    bad = ServingProcess(
        logs_dir, model_uri=model_uri, merge_max_rows="-12345", request_timeout_seconds="nine-seconds"
    )
    try:
        assert bad.process.wait(timeout=30) == 2
        logs = bad.logs()
        assert "FERRYMAN_MERGE_MAX_ROWS: Input should be greater than or equal to 0 [Merge the rows" in logs
        assert "FERRYMAN_REQUEST_TIMEOUT_SECONDS: Input should be a valid number" in logs
        assert "-12345" not in logs and "nine-seconds" not in logs
    finally:
        bad.stop()


def test_no_model_uri_exits_2_naming_it(logs_dir: Path) -> None:
    """FERRYMAN_MODEL_URI is documented as required; without it the pod retried loading nothing forever."""
    server = ServingProcess(logs_dir, drain_seconds="0")
    try:
        assert server.process.wait(timeout=30) == 2
        assert "FERRYMAN_MODEL_URI is required" in server.logs()
    finally:
        server.stop()
