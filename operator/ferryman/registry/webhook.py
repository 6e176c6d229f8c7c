"""The receiver of MLflow registry webhooks: POST /registry/mlflow makes a moved alias seen at once.

Polling stays the source of truth; a delivery only tells the cache to ask again (`on_alias_moved`), so a
lost or refused delivery costs at most one poll period. That is also why the receiver acts on the
model and alias named in the payload and never on the version it names: the version comes from the
registry itself.

`on_alias_moved` runs on the event loop that serves the request, so it must be quick and must not block
(AliasCache.invalidate takes a lock that is never held during I/O).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

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
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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

    async def handle(self, request: web.Request) -> web.Response:
        try:
            delivery = await self._accept(request)
        except _Refused as refusal:
            log.warning("registry webhook refused (HTTP %d): %s", refusal.status, refusal.reason)
            return web.json_response({"ok": False, "reason": refusal.reason}, status=refusal.status)
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
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as error:
            raise _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes") from error
        try:
            verify_delivery(
                self._secret, request.headers, body, self._clock(), self._guard, self._tolerance_seconds
            )
        except DeliveryRejected as rejection:
            raise _Refused(401, str(rejection)) from rejection
        return _parse(request.headers[DELIVERY_ID_HEADER], body)


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
    host, port = split_address(address)
    # No access log: handle() logs one line per delivery, and an access line would add nothing.
    runner = web.AppRunner(make_webhook_app(secret, on_alias_moved), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("registry webhook listening on %s, path %s", address, WEBHOOK_PATH)
    return runner


def split_address(address: str) -> tuple[str | None, int]:
    """("0.0.0.0", 8082) from "0.0.0.0:8082"; an empty host (":8082") means every interface."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or None, int(port)
