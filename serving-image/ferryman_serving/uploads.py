"""Request bodies that stop arriving: reads that outlive their request's deadline are cancelled.

A client that announces a body and then sends nothing (stalled, or a slow-upload attack) would
otherwise hold its admission slot for as long as it keeps the connection open; a few such clients
would make the server answer 503 to everyone. A timer per request would cost more than a small
model's inference (`asyncio.timeout_at` about 10 us, `call_at` and its cancel about 4 us on the
2-core benchmark machine), and nearly every body has fully arrived before the app asks for it. So a
read only records its deadline in a dict, and one loop timer, armed only while reads are pending,
sweeps that dict every `SWEEP_INTERVAL_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

# How late past its deadline a stalled read may be cancelled.
SWEEP_INTERVAL_SECONDS = 0.25


class UploadDeadlines:
    """Deadlines of the body reads in progress on one event loop."""

    def __init__(self) -> None:
        self._pending: dict[asyncio.Task[Any], float] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    async def read(self, body: Awaitable[T], deadline: float) -> T:
        """Await `body` (the reading of a request body); TimeoutError when it is not done by `deadline`.

        A cancellation from elsewhere (shutdown), alone or beside the deadline's, stays a cancellation."""
        task = asyncio.current_task()
        assert task is not None, "a body is read inside a task"
        self._pending[task] = deadline
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(SWEEP_INTERVAL_SECONDS, self._sweep)
        try:
            return await body
        except asyncio.CancelledError:
            if task in self._cancelled and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            del self._pending[task]
            self._cancelled.discard(task)

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for task, deadline in self._pending.items():
            if deadline <= now and task not in self._cancelled:
                self._cancelled.add(task)
                task.cancel()
        if self._pending:
            loop.call_later(SWEEP_INTERVAL_SECONDS, self._sweep)
        else:
            self._sweeping = False
