"""The registry webhook receiver over real HTTP on loopback: what it accepts, refuses and says.

Deliveries are signed with MLflow's own signing function; MLflow's real deliveries to this receiver are
tested in test_registry_mlflow.py. No Kubernetes here (the tier's `cluster` fixture is not used).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from ferryman.registry.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ferryman.registry.webhook import BODY_TIMEOUT_SECONDS, MAX_BODIES_IN_FLIGHT, MAX_BODY_BYTES, WEBHOOK_PATH
from ferryman_testing.polling import NotYet, wait_for
from ferryman_testing.raw_http import connect, read_until_closed
from ferryman_testing.registry_webhook import WebhookReceiver, alias_event, signed_headers

pytestmark = pytest.mark.cluster

SECRET = "receiver-test-secret"


class FailsOnce:
    """An on_alias_moved that raises the first time, as a bug or a full queue would."""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self, model: str, alias: str) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("cannot take it now")


@pytest.fixture(scope="module")
def fails_once() -> FailsOnce:
    return FailsOnce()


@pytest.fixture(scope="module")
def receiver(fails_once: FailsOnce) -> Iterator[WebhookReceiver]:
    def on_alias_moved(model: str, alias: str) -> None:
        if alias == "flaky":
            fails_once(model, alias)

    with WebhookReceiver(SECRET, on_alias_moved=on_alias_moved) as running:
        yield running


def deliver(receiver: WebhookReceiver, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    headers = signed_headers(SECRET, body) if headers is None else headers
    return httpx.post(receiver.url, content=body, headers=headers, timeout=10)


@pytest.mark.parametrize("action", ["created", "deleted"])
def test_an_alias_event_calls_on_alias_moved(receiver: WebhookReceiver, action: str) -> None:
    """Set or deleted, the alias no longer names what the cache holds: the callback hears of it."""
    answer = deliver(receiver, alias_event("fraud", f"alias-{action}", "7", action))
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert ("fraud", f"alias-{action}") in receiver.moved


def test_other_events_are_answered_and_ignored(receiver: WebhookReceiver) -> None:
    body = json.dumps({"entity": "model_version", "action": "created", "data": {"name": "other"}})
    answer = deliver(receiver, body.encode())
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert all(model != "other" for model, _ in receiver.moved)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "header X-MLflow-Delivery-Id is missing"),
        ({SIGNATURE_HEADER: "v1,Zm9yZ2Vk"}, "does not match"),
        ({TIMESTAMP_HEADER: "0"}, "does not match"),  # the timestamp is part of what is signed
    ],
)
def test_unsigned_or_forged_deliveries_are_refused(
    receiver: WebhookReceiver, headers: dict[str, str], reason: str
) -> None:
    body = alias_event("fraud", "forged", "1")
    signed = signed_headers(SECRET, body)
    sent = {**signed, **headers} if headers else {"Content-Type": "application/json"}
    answer = deliver(receiver, body, sent)
    assert answer.status_code == 401
    assert reason in answer.json()["reason"]
    assert ("fraud", "forged") not in receiver.moved


def test_a_stale_delivery_is_refused(receiver: WebhookReceiver) -> None:
    body = alias_event("fraud", "stale", "1")
    answer = deliver(receiver, body, signed_headers(SECRET, body, timestamp=time.time() - 600))
    assert answer.status_code == 401
    assert "old (tolerance 300 s)" in answer.json()["reason"]


def test_a_replayed_delivery_is_refused(receiver: WebhookReceiver) -> None:
    body = alias_event("fraud", "replayed", "1")
    headers = signed_headers(SECRET, body)
    assert deliver(receiver, body, headers).status_code == 200
    again = deliver(receiver, body, headers)
    assert again.status_code == 401
    assert "already received (replay)" in again.json()["reason"]
    assert receiver.moved.count(("fraud", "replayed")) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_one_mebibyte_is_refused(receiver: WebhookReceiver, chunked: bool) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    headers = signed_headers(SECRET, body)
    content: bytes | Iterator[bytes] = iter([body[:1000], body[1000:]]) if chunked else body
    answer = httpx.post(receiver.url, content=content, headers=headers, timeout=10)
    assert answer.status_code == 413
    assert answer.json()["reason"] == f"body larger than {MAX_BODY_BYTES} bytes"


def test_bodies_that_stop_arriving_are_bounded_in_number_and_time(receiver: WebhookReceiver) -> None:
    """Bodies are read before a signature can be checked, so anyone reaching the port can start one: a
    body that stops arriving is answered 408 and closed after BODY_TIMEOUT_SECONDS, and past
    MAX_BODIES_IN_FLIGHT bodies being received a delivery gets 503 with Retry-After (MLflow retries it)."""
    head = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode()
    stalled = [connect(receiver.port, timeout=BODY_TIMEOUT_SECONDS + 10) for _ in range(MAX_BODIES_IN_FLIGHT)]
    for connection in stalled:
        connection.sendall(head)

    def one_too_many() -> httpx.Response:
        answer = deliver(receiver, alias_event("fraud", "crowded", "5"))
        if answer.status_code != 503:
            raise NotYet(answer.status_code)  # the stalled bodies' reads have not all begun yet
        return answer

    crowded = wait_for("a delivery beyond the bodies in flight to be refused", one_too_many, timeout=5)
    assert crowded.headers["Retry-After"] == "1"
    assert crowded.json()["reason"] == f"{MAX_BODIES_IN_FLIGHT} deliveries are being received; retry"
    answers = [read_until_closed(connection) for connection in stalled]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[0]
    assert f"body not received within {BODY_TIMEOUT_SECONDS:g} s".encode() in answers[0]
    assert deliver(receiver, alias_event("fraud", "uncrowded", "6")).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "body is not a JSON object"),
        (b'{"entity": "model_version_alias", "action": "created"}', "an object data"),
        (
            b'{"entity": "model_version_alias", "action": "created", "data": {"name": "fraud"}}',
            "needs string name and alias",
        ),
    ],
)
def test_a_signed_but_malformed_body_is_a_bad_request(
    receiver: WebhookReceiver, body: bytes, reason: str
) -> None:
    answer = deliver(receiver, body)
    assert answer.status_code == 400
    assert reason in answer.json()["reason"]


def test_a_failed_callback_answers_500_and_the_retry_is_accepted(
    receiver: WebhookReceiver, fails_once: FailsOnce
) -> None:
    """MLflow retries a 500 with the same delivery id and signature: that retry is not a replay."""
    body = alias_event("fraud", "flaky", "2")
    headers = signed_headers(SECRET, body)
    first = deliver(receiver, body, headers)
    assert (first.status_code, first.json()) == (500, {"ok": False, "reason": "internal error"})
    assert fails_once.failed
    assert deliver(receiver, body, headers).status_code == 200
    assert ("fraud", "flaky") in receiver.moved


def test_one_log_line_per_delivery_without_secret_or_signature(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    body = alias_event("fraud", "logged", "4")
    good = signed_headers(SECRET, body)
    forged = signed_headers("wrong-secret", body)
    with caplog.at_level(logging.INFO, logger="ferryman.registry"):
        deliver(receiver, body, good)
        deliver(receiver, body, forged)
    lines = [record.getMessage() for record in caplog.records if record.name == "ferryman.registry"]
    assert len(lines) == 2
    assert "alias fraud@logged created (version 4" in lines[0]
    assert "refused (HTTP 401)" in lines[1]
    for signature in (good[SIGNATURE_HEADER], forged[SIGNATURE_HEADER]):
        assert all(signature.removeprefix("v1,") not in line for line in lines)
    assert all(SECRET not in line for line in lines)
