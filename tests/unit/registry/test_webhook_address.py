"""The address settings (HOST:PORT) of the webhook and /metrics, as the operator listens on them."""

from __future__ import annotations

import pytest

from ferryman.listening import split_address

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [("0.0.0.0:8082", "0.0.0.0", 8082), (":8082", None, 8082), ("[::1]:9000", "::1", 9000)],
)
def test_the_address_splits_into_host_and_port(address: str, host: str | None, port: int) -> None:
    """An empty host means every interface; an IPv6 host loses its brackets."""
    assert split_address(address) == (host, port)
