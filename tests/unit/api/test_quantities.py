"""Resource quantities read as Kubernetes reads them, so that requests can be held to their limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ferryman.api.base import quantity_value
from ferryman.api.serving import ResourceRequirements

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1", "1"),
        ("500m", "0.5"),
        ("2Gi", "2147483648"),
        ("129M", "129000000"),
        (".5", "0.5"),
        ("1e3", "1000"),
        ("+1Ki", "1024"),
        ("1E", "1000000000000000000"),
    ],
)
def test_quantity_value_follows_the_suffixes(text: str, amount: str) -> None:
    assert quantity_value(text) == Decimal(amount)


def test_requests_up_to_their_limits_are_accepted_in_any_units() -> None:
    """1 CPU written as an integer, as 1000m or as 1; 512Mi under 1Gi; a request without a limit."""
    resources = ResourceRequirements.model_validate(
        {"requests": {"cpu": "1000m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
         "limits": {"cpu": 1, "memory": "1Gi"}}
    )  # fmt: skip
    assert resources.limits == {"cpu": "1", "memory": "1Gi"}
