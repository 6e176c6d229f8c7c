"""Run the app under uvicorn with a drain phase on SIGTERM (report unready, keep serving, then stop), closing
the connections of stalled clients once a second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from ferryman_serving.connections import close_stalled

log = logging.getLogger("ferryman_serving.server")


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose first SIGTERM/SIGINT starts a drain period instead of stopping at once.

    Kubernetes removes a terminating pod from Service endpoints asynchronously, so connections keep
    arriving for a moment after SIGTERM; closing the listener at once would refuse them. During the
    drain the app answers readiness with 503 and asks clients to close connections; afterwards uvicorn
    closes the listener and waits for in-flight requests. A second signal ends the drain early; a third
    (SIGINT) forces exit.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        begin_drain: Callable[[], None],
        drain_seconds: float,
        stalled_client_seconds: float,
    ) -> None:
        super().__init__(config)
        self._stalled_client_seconds = stalled_client_seconds
        self._begin_drain = begin_drain
        self._drain_seconds = drain_seconds
        self._drain_deadline: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not calling super(): uvicorn would re-raise the signal after shutdown, making the exit code
        # "killed by SIGTERM" instead of a clean 0 after a complete drain.
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + self._drain_seconds
            self._begin_drain()
        elif self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        # uvicorn calls this every 0.1 s: a sweep on every tenth costs nothing per request.
        if counter % 10 == 0:
            now = asyncio.get_running_loop().time()
            close_stalled(self.server_state.connections, now, self._stalled_client_seconds)
        if self._drain_deadline is not None:
            if not self._drain_logged:
                self._drain_logged = True
                log.info("signal received: draining", extra={"drain_seconds": self._drain_seconds})
            if time.monotonic() >= self._drain_deadline:
                self.should_exit = True
        return await super().on_tick(counter)
