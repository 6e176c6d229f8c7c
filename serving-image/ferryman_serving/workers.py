"""Worker threads for the CPU-bound part of infer requests, so the event loop never computes.

The event loop reads bodies and writes responses; decoding, `session.run` and encoding run here. A
probe or a /metrics scrape therefore waits at most for the GIL (ONNX Runtime releases it while it
computes), never for a whole inference. Each job has a deadline: a job still queued at its deadline
is skipped, and a running ONNX Runtime call is told to stop (`RunOptions.terminate`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

import onnxruntime as ort

from ferryman_serving.errors import TimedOut

T = TypeVar("T")


class Job(Generic[T]):
    """One unit of work for a worker; `run_options` lets the loop stop its inference."""

    __slots__ = ("expired", "loop", "run_options", "waiter", "work")

    def __init__(self, work: Callable[[ort.RunOptions], T], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.loop = loop
        self.waiter: asyncio.Future[T] = loop.create_future()
        self.run_options = ort.RunOptions()
        self.expired = False

    def run(self) -> None:
        if self.expired:
            return  # answered with 504 while queued: do not spend CPU on it
        try:
            result = self.work(self.run_options)
        except BaseException as error:  # handed to the awaiting request, which maps it
            self.loop.call_soon_threadsafe(_settle, self.waiter, None, error)
        else:
            self.loop.call_soon_threadsafe(_settle, self.waiter, result, None)

    def expire(self, message: str) -> None:
        """Called on the loop at the deadline: answer now, stop the work if it is running."""
        self.expired = True
        self.run_options.terminate = True
        if not self.waiter.done():
            self.waiter.set_exception(TimedOut(message))


def _settle(waiter: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if waiter.done():
        return  # already answered: timed out
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)


class InferenceWorkers:
    """A fixed set of daemon threads taking jobs from one queue, in arrival order."""

    def __init__(self, threads: int) -> None:
        self._queue: SimpleQueue[Job[Any] | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"infer-{n}", daemon=True) for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run()

    async def run(self, work: Callable[[ort.RunOptions], T], deadline: float, timeout_message: str) -> T:
        """Run work(run_options) on a worker; TimedOut when the loop clock passes deadline first."""
        loop = asyncio.get_running_loop()
        job = Job(work, loop)
        timer = loop.call_at(deadline, job.expire, timeout_message)
        self._queue.put(job)
        try:
            return await job.waiter
        finally:
            timer.cancel()

    def stop(self) -> None:
        """Let every thread finish its current job and exit."""
        for _ in self._threads:
            self._queue.put(None)
