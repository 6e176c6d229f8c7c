"""The serving tier's protocol and shutdown tests, against the built image run by podman (conftest.py).

The tests are the serving tier's own functions, collected here a second time with the image tier's
fixtures: the image answers exactly what the code answers, and drains as cleanly under SIGTERM.
"""

from __future__ import annotations

import pytest

from tests.serving.test_serving_errors import *  # noqa: F403
from tests.serving.test_serving_openapi import *  # noqa: F403
from tests.serving.test_serving_protocol import *  # noqa: F403
from tests.serving.test_serving_shutdown import (  # noqa: F401
    test_request_in_flight_at_sigterm_completes,
    test_rolling_restart_under_load_fails_no_request,
)
from tests.serving.test_serving_tritonclient import *  # noqa: F403

pytestmark = pytest.mark.image
