"""The published OpenAPI document, fuzzed with schemathesis against a real server: no 5xx, answers conform.

schemathesis runs as its CLI: its pytest plugin does not support this pytest version yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.serving.conftest import GB_VERSION

from ferryman_testing.servers import ServingProcess

# schemathesis gets 300 s (its own subprocess timeout) on a loaded 2-core machine.
pytestmark = [pytest.mark.serving, pytest.mark.timeout(360)]


def test_openapi_document_is_published(gb_server: ServingProcess) -> None:
    """GET /v2/openapi.json returns an OpenAPI 3 document covering the infer path."""
    document = httpx.get(f"{gb_server.url}/v2/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v2/models/{model_name}/infer" in document["paths"]


def test_generated_requests_never_get_a_server_error(gb_server: ServingProcess, tmp_path: Path) -> None:
    """Up to 50 generated cases per operation (valid and invalid): no 5xx, statuses and bodies as documented.

    Path parameters are pinned to the served model so that requests reach the infer logic instead of 404.
    Excluded check: positive_data_acceptance, because which tensors are valid depends on the model's
    signature (published by model metadata), which a static API schema cannot express. 413 counts as a
    rejection of invalid data: a body over FERRYMAN_MAX_BODY_BYTES is refused before it is parsed (say a
    feedback list of more than 1,000 items, which is also over 64 KiB).
    """
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[parameters]\nmodel_name = "fraud"\nmodel_version = "{GB_VERSION}"\n'
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", '
        '"429"]\n'
    )
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{gb_server.url}/v2/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "50",
        "--seed",
        "20261123",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert gb_server.process.poll() is None
