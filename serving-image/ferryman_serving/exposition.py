"""/metrics bodies built off the event loop, one build at a time, with a bounded share of the time.

Formatting the exposition of a model with a drift profile (~460 samples) takes 3-17 ms of CPU. Done on
the event loop, a client scraping in a loop (4 connections) took the loop from every infer request:
one client's infer median went from ~2 ms to ~120 ms. Moving it to a thread alone is not enough: the
thread holds the GIL while it formats, and back-to-back builds still took the median to ~9 ms.

So the loop only copies the counters (`ServingMetrics.snapshot`, microseconds), a worker thread formats
the copy, and builds are spaced: after a build of d seconds the next starts no sooner than
`gap_after(d)` = d * (1 / MAX_BUILD_SHARE - 1) later (at most MAX_GAP_SECONDS). Builds thus hold the
GIL for at most about MAX_BUILD_SHARE of the time, however many clients scrape; with the flood above
the infer median stayed at ~1.5 ms. A scrape never gets an answer built before it arrived, since a
reader expects what it just caused: scrapes that arrive while a build runs, or during the gap after
it, wait for the next build, which answers all of them. Prometheus, scraping every few seconds, finds
the gap over and is answered at once.
"""

from __future__ import annotations

import asyncio

from ferryman_serving.metrics import ServingMetrics, render

MAX_BUILD_SHARE = 0.1
MAX_GAP_SECONDS = 0.5  # a scrape waits for at most this gap plus one build, whatever a build cost


class Exposition:
    """Spaced builds of the Prometheus text of one ServingMetrics, for the loop that awaits them."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics
        self._next: asyncio.Future[bytes] | None = None  # answered by the next build to start
        self._running = False
        self._not_before = 0.0  # loop time: the end of the gap after the last build

    async def latest(self) -> bytes:
        """The exposition of a snapshot taken after this call."""
        loop = asyncio.get_running_loop()
        answer = self._next
        if answer is None:
            answer = self._next = loop.create_future()
            if not self._running:  # else the running build starts the next one when it ends
                self._start_at(loop, self._not_before)
        # Shielded: a scraper that hangs up must not cancel the build that others wait for.
        return await asyncio.shield(answer)

    def _start_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if when <= loop.time():
            self._start(loop)  # at once, so that the snapshot follows the caller's own requests
        else:
            loop.call_at(when, self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        answer, self._next = self._next, None
        assert answer is not None  # a start is scheduled only for a waiting scrape
        try:
            snapshot = self._metrics.snapshot()  # on the loop, where the request counters change
        except Exception as error:  # fail these scrapes (500), never leave them and all later ones waiting
            answer.set_exception(error)
            return
        self._running = True
        started = loop.time()
        build = asyncio.ensure_future(asyncio.to_thread(render, snapshot))
        build.add_done_callback(lambda done: self._built(loop, done, answer, started))

    def _built(
        self, loop: asyncio.AbstractEventLoop, build: asyncio.Future[bytes], answer: asyncio.Future[bytes],
        started: float,
    ) -> None:  # fmt: skip
        _copy_outcome(build, answer)
        self._running = False
        now = loop.time()
        self._not_before = now + gap_after(now - started)
        if self._next is not None:
            self._start_at(loop, self._not_before)


def gap_after(build_seconds: float) -> float:
    """How long the next build waits after one that took `build_seconds`."""
    return min(build_seconds * (1 / MAX_BUILD_SHARE - 1), MAX_GAP_SECONDS)


def _copy_outcome(source: asyncio.Future[bytes], target: asyncio.Future[bytes]) -> None:
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
