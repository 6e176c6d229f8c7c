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
        assert "invalid FERRYMAN_* settings" in bad.logs() and "log_level" in bad.logs()
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
