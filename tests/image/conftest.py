"""Fixtures of the image tier: the serving tier's fixtures, with servers run from the built image."""

from __future__ import annotations

import pytest

from ferryman_testing.containers import ServingContainer
from ferryman_testing.servers import ServingProcess
from tests.serving.conftest import (  # noqa: F401  (fixtures, re-used as they are)
    gb_server,
    gradient_boosting,
    identity_server,
    logs_dir,
    model_root,
    string_server,
    two_input_server,
)


@pytest.fixture(scope="session")
def serving_backend() -> type[ServingProcess]:
    return ServingContainer
