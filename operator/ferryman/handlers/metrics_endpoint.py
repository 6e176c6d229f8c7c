"""The operator's own /metrics, served by aiohttp on Kopf's event loop (as the registry webhook is).

Not prometheus_client's `start_http_server`: it starts a thread per connection and never times a request
out, so 300 connections that sent half a request each held a thread of the operator's process for as long
as they stayed open, and the server accepted new connections ever more slowly. Here an unfinished request
holds no thread and is closed after IDLE_CONNECTION_SECONDS (ferryman.listening).

Building the exposition holds the GIL for its whole length (0.14 s for the 7,000 phase samples of 1,000
ModelDeployments, timed on a busy 2-core VM), so it is built at most once per EXPOSITION_MAX_AGE_SECONDS,
in a worker thread; scrapes within that time get the same bytes. A flood of scrapes therefore costs the
operator one build every 5 s, not one per scrape, and the chart's PodMonitor (every 15 s) always gets a
fresh one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ferryman.listening import listen

METRICS_PATH = "/metrics"
EXPOSITION_MAX_AGE_SECONDS = 5.0


class Exposition:
    """The registry's text exposition, built again only when the last one is older than `max_age`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        max_age: float = EXPOSITION_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._max_age = max_age
        self._clock = clock
        self._lock = asyncio.Lock()
        self._body = b""
        self._built_at = -math.inf

    async def latest(self) -> bytes:
        async with self._lock:  # concurrent scrapes wait for one build instead of each starting one
            if self._clock() - self._built_at >= self._max_age:
                self._body = await asyncio.to_thread(generate_latest, self._registry)
                self._built_at = self._clock()
            return self._body


def make_metrics_app(registry: CollectorRegistry) -> web.Application:
    """The aiohttp application alone (no socket): GET /metrics."""
    exposition = Exposition(registry)

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=await exposition.latest())
        # The classic text format, which every Prometheus reads (what generate_latest writes).
        response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
        return response

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def start_metrics_server(address: str, registry: CollectorRegistry) -> web.AppRunner:
    """Serve `registry` on HOST:PORT; the caller awaits runner.cleanup()."""
    return await listen(make_metrics_app(registry), address)
