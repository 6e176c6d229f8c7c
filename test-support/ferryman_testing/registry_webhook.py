"""The operator's registry webhook receiver, run for tests, and deliveries signed the way MLflow signs them.

`WebhookReceiver` runs the real `start_webhook_server` on 127.0.0.1 in a background event loop and
records every `on_alias_moved` call; `signed_headers` signs with MLflow's own signing function
(mlflow/webhooks/delivery.py), so a test's delivery is byte for byte what MLflow would send.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from ferryman.registry.signatures import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from ferryman.registry.webhook import WEBHOOK_PATH, start_webhook_server
from ferryman_testing.polling import wait_for
from ferryman_testing.servers import free_port


def mlflow_signer() -> Callable[[str, str, str, str], str]:
    """mlflow.webhooks.delivery._generate_hmac_signature(secret, delivery_id, timestamp, payload)."""
    # mlflow's import emits warnings from its own dependencies; the suite turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.webhooks.delivery import _generate_hmac_signature

    signer: Callable[[str, str, str, str], str] = _generate_hmac_signature
    return signer


def signed_headers(
    secret: str, body: bytes, timestamp: float | None = None, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers MLflow sends with `body`: a new delivery id, unix seconds, the v1 signature."""
    delivery_id = delivery_id or str(uuid.uuid4())
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: mlflow_signer()(secret, delivery_id, stamp, body.decode()),
    }


def alias_event(model: str, alias: str, version: str, action: str = "created") -> bytes:
    """A model_version_alias delivery body as MLflow 3.x builds it (json.dumps, default separators)."""
    data = {"name": model, "alias": alias, "version": version}
    event = {"entity": "model_version_alias", "action": action, "timestamp": "2027-01-01T00:00:00+00:00"}
    return json.dumps({**event, "data": data}).encode()


class WebhookReceiver:
    """start_webhook_server on a free loopback port, its event loop in a thread; `moved` records the
    on_alias_moved calls, each after passing it on to `on_alias_moved` when one is given."""

    def __init__(self, secret: str, on_alias_moved: Callable[[str, str], None] | None = None) -> None:
        self.secret = secret
        self._forward = on_alias_moved
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"
        self._moved: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-receiver", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def moved(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._moved)

    def wait_for_moves(self, model: str, alias: str, count: int = 1, timeout: float = 15.0) -> None:
        """Until on_alias_moved(model, alias) has been called `count` times in all."""
        wait_for(
            f"on_alias_moved({model!r}, {alias!r}) to be called {count} times",
            lambda: self.moved.count((model, alias)) >= count,
            timeout=timeout,
            every=0.05,
        )

    def _on_alias_moved(self, model: str, alias: str) -> None:
        if self._forward is not None:
            self._forward(model, alias)
        with self._lock:
            self._moved.append((model, alias))

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        start = start_webhook_server(f"127.0.0.1:{self.port}", self.secret, self._on_alias_moved)
        self._runner = asyncio.run_coroutine_threadsafe(start, self._loop).result(timeout=30)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
