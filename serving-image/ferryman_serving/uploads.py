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
from typing import Any

# How late past its deadline a stalled read may be cancelled.
SWEEP_INTERVAL_SECONDS = 0.25


class UploadDeadlines:
    """Deadlines of the body reads in progress on one event loop."""

    def __init__(self) -> None:
        self._pending: dict[asyncio.Task[Any], float] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    def watch(self, deadline: float) -> asyncio.Task[Any]:
        """Called by the task about to read a body; pair it with `release` in a `finally`."""
        task = asyncio.current_task()
        assert task is not None, "a body is read inside a task"
        self._pending[task] = deadline
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(SWEEP_INTERVAL_SECONDS, self._sweep)
        return task

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """After a CancelledError in the read: True when the deadline alone cancelled it. That
        cancellation is then withdrawn, and the read should end with a 408."""
        return task in self._cancelled and task.uncancel() == 0

    def release(self, task: asyncio.Task[Any]) -> None:
        """The read is over, however it ended."""
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
