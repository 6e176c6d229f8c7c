"""The receiver of MLflow registry webhooks: POST /registry/mlflow makes a moved alias seen at once.

Polling stays the source of truth; a delivery only tells the cache to ask again (`on_alias_moved`), so a
lost or refused delivery costs at most one poll period. That is also why the receiver acts on the
model and alias named in the payload and never on the version it names: the version comes from the
registry itself.

`on_alias_moved` runs on the event loop that serves the request, so it must be quick and must not block
(AliasCache.invalidate takes a lock that is never held during I/O).

Bodies are read before the signature can be checked, so anyone who reaches the port can send one. What
they can hold is bounded: a body must arrive within BODY_TIMEOUT_SECONDS and be at most MAX_BODY_BYTES,
and at most MAX_BODIES_IN_FLIGHT are received at once (more get 503 with Retry-After, which MLflow's
sender retries). Without these, 200 connections that each sent most of a 1 MiB body and stopped held
239 MB of the operator's memory for as long as they stayed open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ferryman.listening import listen
from ferryman.registry.signatures import (
    DEFAULT_TOLERANCE_SECONDS,
    DELIVERY_ID_HEADER,
    DeliveryRejected,
    ReplayGuard,
    verify_delivery,
)

log = logging.getLogger("ferryman.registry")

WEBHOOK_PATH = "/registry/mlflow"
MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_SECONDS = 10.0
# A real delivery's body (a few hundred bytes) is read in milliseconds: 16 at once is far above need.
MAX_BODIES_IN_FLIGHT = 16
ALIAS_ENTITY = "model_version_alias"
# "deleted" too: the cache must stop answering with the version of an alias that no longer exists.
ALIAS_ACTIONS = frozenset({"created", "deleted"})

AliasMoved = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified delivery: who sent it (its id) and what it says."""

    delivery_id: str
    entity: str
    action: str
    data: dict[str, Any]


class _Refused(Exception):
    def __init__(self, status: int, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        # A refusal before the whole body was read closes the connection: its unread rest is not
        # worth reading (aiohttp would otherwise linger on it).
        self.close = close


class _Receiver:
    def __init__(
        self,
        secret: str,
        on_alias_moved: AliasMoved,
        clock: Callable[[], float],
        tolerance_seconds: float,
    ) -> None:
        self._secret = secret
        self._on_alias_moved = on_alias_moved
        self._clock = clock
        self._tolerance_seconds = tolerance_seconds
        self._guard = ReplayGuard()
        self._bodies_in_flight = 0

    async def handle(self, request: web.Request) -> web.Response:
        try:
            delivery = await self._accept(request)
        except _Refused as refusal:
            log.warning("registry webhook refused (HTTP %d): %s", refusal.status, refusal.reason)
            return _refusal_response(refusal)
        if delivery.entity != ALIAS_ENTITY or delivery.action not in ALIAS_ACTIONS:
            log.info("registry webhook: ignored %s.%s (delivery %s)", *_what(delivery))
            return web.json_response({"ok": True})
        model, alias = delivery.data["name"], delivery.data["alias"]
        try:
            self._on_alias_moved(model, alias)
        except Exception:
            log.exception("registry webhook: acting on %s.%s failed (delivery %s)", *_what(delivery))
            # MLflow retries a 500 with the same delivery id: that retry must not be taken for a replay.
            self._guard.forget(delivery.delivery_id)
            return web.json_response({"ok": False, "reason": "internal error"}, status=500)
        version = delivery.data.get("version", "-")
        log.info(
            "registry webhook: alias %s@%s %s (version %s, delivery %s)",
            model,
            alias,
            delivery.action,
            version,
            delivery.delivery_id,
        )
        return web.json_response({"ok": True})

    async def _accept(self, request: web.Request) -> Delivery:
        """The verified, parsed delivery; _Refused with the status and reason to answer otherwise."""
        body = await self._read_body(request)
        try:
            verify_delivery(
                self._secret, request.headers, body, self._clock(), self._guard, self._tolerance_seconds
            )
        except DeliveryRejected as rejection:
            raise _Refused(401, str(rejection)) from rejection
        return _parse(request.headers[DELIVERY_ID_HEADER], body)

    async def _read_body(self, request: web.Request) -> bytes:
        too_large = _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes", close=True)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise too_large
        if self._bodies_in_flight >= MAX_BODIES_IN_FLIGHT:
            raise _Refused(503, f"{MAX_BODIES_IN_FLIGHT} deliveries are being received; retry", close=True)
        self._bodies_in_flight += 1
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                return await request.read()
        except web.HTTPRequestEntityTooLarge as error:
            raise too_large from error
        except TimeoutError as error:
            raise _Refused(408, f"body not received within {BODY_TIMEOUT_SECONDS:g} s", close=True) from error
        finally:
            self._bodies_in_flight -= 1


def _refusal_response(refusal: _Refused) -> web.Response:
    response = web.json_response({"ok": False, "reason": refusal.reason}, status=refusal.status)
    if refusal.status == 503:
        response.headers["Retry-After"] = "1"
    if refusal.close:
        response.force_close()
    return response


def _parse(delivery_id: str, body: bytes) -> Delivery:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _Refused(400, f"body is not JSON: {type(error).__name__}") from error
    if not isinstance(payload, dict):
        raise _Refused(400, "body is not a JSON object")
    entity, action, data = payload.get("entity"), payload.get("action"), payload.get("data")
    if not isinstance(entity, str) or not isinstance(action, str) or not isinstance(data, dict):
        raise _Refused(400, "body needs string entity and action and an object data")
    if entity == ALIAS_ENTITY and not all(isinstance(data.get(key), str) for key in ("name", "alias")):
        raise _Refused(400, f"{entity} data needs string name and alias")
    return Delivery(delivery_id, entity, action, data)


def _what(delivery: Delivery) -> tuple[str, str, str]:
    return delivery.entity, delivery.action, delivery.delivery_id


def make_webhook_app(
    secret: str,
    on_alias_moved: AliasMoved,
    clock: Callable[[], float] = time.time,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> web.Application:
    """The aiohttp application alone (no socket), for start_webhook_server and for tests."""
    if not secret:
        raise ValueError("the registry webhook needs a non-empty secret")
    receiver = _Receiver(secret, on_alias_moved, clock, tolerance_seconds)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(WEBHOOK_PATH, receiver.handle)
    return app


async def start_webhook_server(address: str, secret: str, on_alias_moved: AliasMoved) -> web.AppRunner:
    """Listen on HOST:PORT (settings.registry_webhook_address); the caller awaits runner.cleanup()."""
    runner = await listen(make_webhook_app(secret, on_alias_moved), address)
    log.info("registry webhook listening on %s, path %s", address, WEBHOOK_PATH)
    return runner
