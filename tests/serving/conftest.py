"""Fixtures of the serving tier: test models on disk and real serving processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ferryman_testing.models import (
    GradientBoostingFiles,
    make_gradient_boosting_model,
    make_identity_model,
    make_string_model,
    make_two_input_model,
)
from ferryman_testing.servers import ServingProcess

GB_VERSION = "7"


@pytest.fixture(scope="session")
def serving_backend() -> type[ServingProcess]:
    """How the server under test runs: this Python here; the image tier overrides it with the built image."""
    return ServingProcess


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def gradient_boosting(model_root: Path) -> GradientBoostingFiles:
    """GradientBoostingRegressor, 100 trees, 20 features, skl2onnx, with profile.json beside it."""
    return make_gradient_boosting_model(model_root / "gb")


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def gb_server(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path, serving_backend: type[ServingProcess]
) -> Iterator[ServingProcess]:
    """The GradientBoosting model served as 'fraud' version 7, with a 64 KiB body limit."""
    with serving_backend(
        logs_dir,
        model_uri=f"file://{gradient_boosting.model_path}",
        model_name="fraud",
        model_version=GB_VERSION,
        max_body_bytes="65536",
        drain_seconds="0",
    ) as server:
        yield server.wait_ready()


@pytest.fixture(scope="session")
def identity_server(
    model_root: Path, logs_dir: Path, serving_backend: type[ServingProcess]
) -> Iterator[ServingProcess]:
    """One Identity per numeric datatype and BOOL."""
    path = make_identity_model(model_root / "identity" / "model.onnx")
    with serving_backend(
        logs_dir, model_uri=f"file://{path}", model_name="identity", drain_seconds="0"
    ) as server:
        yield server.wait_ready()


@pytest.fixture(scope="session")
def two_input_server(
    model_root: Path, logs_dir: Path, serving_backend: type[ServingProcess]
) -> Iterator[ServingProcess]:
    """Inputs a, b; outputs sum and product."""
    path = make_two_input_model(model_root / "two" / "model.onnx")
    with serving_backend(
        logs_dir, model_uri=f"file://{path}", model_name="arith", drain_seconds="0"
    ) as server:
        yield server.wait_ready()


@pytest.fixture(scope="session")
def string_server(
    model_root: Path, logs_dir: Path, serving_backend: type[ServingProcess]
) -> Iterator[ServingProcess]:
    """A string Identity model (BYTES in, BYTES out)."""
    path = make_string_model(model_root / "strings" / "model.onnx")
    with serving_backend(
        logs_dir, model_uri=f"file://{path}", model_name="echo", drain_seconds="0"
    ) as server:
        yield server.wait_ready()
