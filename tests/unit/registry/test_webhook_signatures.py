"""MLflow webhook deliveries are accepted only when signed with our secret, recent and new.

Signatures are made with MLflow's own signing function, so receiver and sender agree byte for byte.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from ferryman.registry.signatures import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryRejected,
    ReplayGuard,
    verify_delivery,
)
from ferryman_testing.registry_webhook import signed_headers as mlflow_signed_headers

pytestmark = pytest.mark.unit

SECRET = "webhook-secret-\u00e9"  # non-ASCII: both sides must encode it as UTF-8
NOW = 1_800_000_000.0
BODY = json.dumps(
    {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2027-01-15T08:00:00+00:00",
        "data": {"name": "fraud", "alias": "production", "version": "7"},
    }
).encode()


def signed_headers(
    body: bytes = BODY, timestamp: float = NOW, secret: str = SECRET, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers MLflow sends with `body`, signed by MLflow's own function."""
    return mlflow_signed_headers(secret, body, timestamp, delivery_id)


def test_a_delivery_signed_by_mlflow_is_accepted() -> None:
    verify_delivery(SECRET, signed_headers(), BODY, NOW, ReplayGuard())


def test_header_names_are_case_insensitive() -> None:
    """Proxies and HTTP/2 lower-case header names."""
    headers = {name.lower(): value for name, value in signed_headers().items()}
    verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, DELIVERY_ID_HEADER, TIMESTAMP_HEADER])
def test_a_missing_header_is_rejected_by_name(missing: str) -> None:
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(DeliveryRejected, match=f"header {missing} is missing"):
        verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


@pytest.mark.parametrize("header", [SIGNATURE_HEADER, DELIVERY_ID_HEADER])
def test_a_header_with_a_byte_that_is_not_ascii_is_rejected_not_a_500(header: str) -> None:
    """aiohttp hands an undecodable header byte on as a lone surrogate; encoding it raised
    UnicodeEncodeError, which an unauthenticated client could turn into a 500 and an ERROR traceback."""
    headers = {**signed_headers(), header: "\udcff"}
    with pytest.raises(DeliveryRejected, match=f"header {header} is not ASCII"):
        verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    with pytest.raises(DeliveryRejected, match="does not match"):
        verify_delivery(SECRET, signed_headers(secret="guessed"), BODY, NOW, ReplayGuard())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda h, b: (h, b.replace(b'"7"', b'"8"')), id="body"),
        pytest.param(lambda h, b: ({**h, DELIVERY_ID_HEADER: str(uuid.uuid4())}, b), id="delivery-id"),
        pytest.param(lambda h, b: ({**h, TIMESTAMP_HEADER: str(int(NOW) - 1)}, b), id="timestamp"),
        pytest.param(lambda h, b: ({**h, SIGNATURE_HEADER: "v1,"}, b), id="empty-signature"),
        pytest.param(
            lambda h, b: ({**h, SIGNATURE_HEADER: h[SIGNATURE_HEADER].replace("v1,", "v2,")}, b),
            id="unknown-version",
        ),
    ],
)
def test_any_change_to_what_was_signed_is_rejected(
    change: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]],
) -> None:
    headers, body = change(signed_headers(), BODY)
    with pytest.raises(DeliveryRejected, match="does not match"):
        verify_delivery(SECRET, headers, body, NOW, ReplayGuard())


def test_one_matching_signature_among_several_is_enough() -> None:
    """Standard Webhooks lets a sender list several signatures (a secret being rotated)."""
    headers = signed_headers()
    headers[SIGNATURE_HEADER] = f"v1,AAAA {headers[SIGNATURE_HEADER]}"
    verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


def test_a_replayed_delivery_is_rejected() -> None:
    guard = ReplayGuard()
    headers = signed_headers()
    verify_delivery(SECRET, headers, BODY, NOW, guard)
    with pytest.raises(DeliveryRejected, match="already received"):
        verify_delivery(SECRET, headers, BODY, NOW + 10, guard)


def test_a_delivery_forgotten_after_a_failure_may_be_retried() -> None:
    """MLflow retries a 5xx with the same delivery id; the receiver forgets ids it did not act on."""
    guard = ReplayGuard()
    headers = signed_headers()
    verify_delivery(SECRET, headers, BODY, NOW, guard)
    guard.forget(headers[DELIVERY_ID_HEADER])
    verify_delivery(SECRET, headers, BODY, NOW + 1, guard)


@pytest.mark.parametrize(("offset", "word"), [(-301, "old"), (301, "in the future")])
def test_a_timestamp_beyond_the_tolerance_is_rejected(offset: float, word: str) -> None:
    headers = signed_headers(timestamp=NOW + offset)
    with pytest.raises(DeliveryRejected, match=f"301 s {word} \\(tolerance 300 s\\)"):
        verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_at_the_tolerance_is_accepted(offset: float) -> None:
    verify_delivery(SECRET, signed_headers(timestamp=NOW + offset), BODY, NOW, ReplayGuard())


@pytest.mark.parametrize("stamp", ["soon", "nan", "inf", ""])
def test_a_timestamp_that_is_not_unix_seconds_is_rejected(stamp: str) -> None:
    headers = {**signed_headers(), TIMESTAMP_HEADER: stamp}
    with pytest.raises(DeliveryRejected, match=TIMESTAMP_HEADER):
        verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())


def test_rejections_never_show_the_signature_or_the_secret() -> None:
    headers = signed_headers(secret="guessed")
    with pytest.raises(DeliveryRejected) as rejected:
        verify_delivery(SECRET, headers, BODY, NOW, ReplayGuard())
    signature = headers[SIGNATURE_HEADER].removeprefix("v1,")
    assert signature not in str(rejected.value)
    assert SECRET not in str(rejected.value)


def test_the_guard_forgets_ids_once_their_timestamp_is_out_of_the_window() -> None:
    """Memory stays bounded by the window: an old id is dropped once the timestamp check covers it."""
    guard = ReplayGuard()
    for second in range(100):
        verify_delivery(SECRET, signed_headers(timestamp=NOW + second), BODY, NOW + second, guard)
    assert len(guard) == 100
    verify_delivery(SECRET, signed_headers(timestamp=NOW + 350), BODY, NOW + 350, guard)
    assert len(guard) == 51  # ids stamped NOW+50 .. NOW+99 are still replayable, and the new one


def test_the_guard_never_holds_more_than_its_limit() -> None:
    guard = ReplayGuard(max_ids=10)
    for _ in range(25):
        verify_delivery(SECRET, signed_headers(), BODY, NOW, guard)
    assert len(guard) == 10
