"""Worker threads for the CPU-bound part of infer requests, so the event loop never computes.

The event loop reads bodies and writes responses; decoding, `session.run` and encoding run here. A
probe or a /metrics scrape therefore waits at most for the GIL (ONNX Runtime releases it while it
computes), never for a whole inference. Each job has a deadline: a job still queued at its deadline
is skipped, and a running ONNX Runtime call is told to stop (`RunOptions.terminate`).

Hand-offs are batched both ways. A thread hand-off costs a wake-up and a GIL handover at each end
(30-50 us per request on 2 cores, more than a small model's whole inference; measured with
bench/serving_inprocess.py), so paying it per request cut the throughput of a small model by a fifth
or more (bench/README.md):

- the jobs submitted during one event-loop iteration go to the workers as one batch;
- finished jobs wait in an outbox that the loop drains in one callback: a worker wakes the loop when
  it has nothing left to do, and while jobs are out the loop also drains the outbox every
  `DELIVERY_INTERVAL_SECONDS`, so a job that finishes before a slow one is answered without waiting
  for it.

How a worker runs a batch is a `BatchRunner`: each job on its own (`run_each`), or infer requests
merged into one session.run (merging.py, FERRYMAN_MERGE_MAX_ROWS).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Generic, TypeVar

import onnxruntime as ort

from ferryman_serving.errors import TimedOut

T = TypeVar("T")

# How long a finished job may wait in the outbox while its worker runs the next one.
DELIVERY_INTERVAL_SECONDS = 0.001


class Job(Generic[T]):
    """One unit of work for a worker; `run_options` lets the loop stop its inference."""

    __slots__ = ("error", "expired", "result", "run_options", "waiter", "work")

    def __init__(self, work: Callable[[ort.RunOptions], T], waiter: asyncio.Future[T]) -> None:
        self.work = work
        self.waiter = waiter
        self.run_options = ort.RunOptions()
        self.expired = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        """On a worker thread."""
        if self.expired:
            return  # answered with 504 while queued: do not spend CPU on it
        try:
            self.result = self.work(self.run_options)
        except BaseException as error:  # handed to the awaiting request, which maps it
            self.error = error

    def expire(self, message: str) -> None:
        """Called on the loop at the deadline: answer now, stop the work if it is running."""
        self.expired = True
        self.run_options.terminate = True
        if not self.waiter.done():
            self.waiter.set_exception(TimedOut(message))

    def settle(self) -> None:
        """On the loop, once the job has run (or was skipped): hand the outcome to the request."""
        if self.waiter.done():
            return  # already answered: timed out
        if self.error is not None:
            self.waiter.set_exception(self.error)
        else:
            self.waiter.set_result(self.result)  # type: ignore[arg-type]  # set by run()


# Hands a job that has run (or was skipped) back to the loop.
JobDone = Callable[[Job[Any]], None]
# How a worker runs one batch of jobs: each job, then done(job), in any order, each exactly once.
BatchRunner = Callable[[list[Job[Any]], JobDone], None]


def run_each(jobs: list[Job[Any]], done: JobDone) -> None:
    """The default: every job on its own, handed back as soon as it has run."""
    for job in jobs:
        job.run()
        done(job)


class InferenceWorkers:
    """A fixed set of daemon threads running jobs in arrival order, for the loop of the first `run`."""

    def __init__(self, threads: int, run_batch: BatchRunner = run_each) -> None:
        self._run_batch = run_batch
        self._batches: SimpleQueue[list[Job[Any]] | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"infer-{n}", daemon=True) for n in range(threads)
        ]
        # Loop side: jobs of the current iteration, and jobs handed over but not settled yet.
        self._submitting: list[Job[Any]] = []
        self._outstanding = 0
        self._polling = False
        # Shared: finished jobs, and whether a wake-up of the loop is already on its way.
        self._outbox: list[Job[Any]] = []
        self._outbox_lock = threading.Lock()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        for thread in self._threads:
            thread.start()

    async def run(self, work: Callable[[ort.RunOptions], T], deadline: float, timeout_message: str) -> T:
        """Run work(run_options) on a worker; TimedOut when the loop clock passes deadline first."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and self._outstanding:
                raise RuntimeError("InferenceWorkers serve one event loop at a time")
            self._loop = loop
        job: Job[T] = Job(work, loop.create_future())
        timer = loop.call_at(deadline, job.expire, timeout_message)
        if not self._submitting:
            loop.call_soon(self._submit)  # runs after every request of this iteration has queued
        self._submitting.append(job)
        try:
            return await job.waiter
        finally:
            timer.cancel()

    def stop(self) -> None:
        """Let every thread finish its current batch and exit."""
        for _ in self._threads:
            self._batches.put(None)

    # On the event loop

    def _submit(self) -> None:
        batch, self._submitting = self._submitting, []
        self._outstanding += len(batch)
        threads = len(self._threads)
        for start in range(min(threads, len(batch))):
            self._batches.put(batch[start::threads])  # one slice per thread, when there are several
        if not self._polling:
            self._polling = True
            assert self._loop is not None
            self._loop.call_later(DELIVERY_INTERVAL_SECONDS, self._poll)

    def _poll(self) -> None:
        self._deliver()
        if self._outstanding:
            assert self._loop is not None
            self._loop.call_later(DELIVERY_INTERVAL_SECONDS, self._poll)
        else:
            self._polling = False

    def _deliver(self) -> None:
        with self._outbox_lock:
            finished, self._outbox = self._outbox, []
            self._wake_pending = False
        self._outstanding -= len(finished)
        for job in finished:
            job.settle()

    # On a worker thread

    def _serve(self) -> None:
        while (batch := self._batches.get()) is not None:
            self._run_batch(batch, self._finished)
            if self._batches.empty():
                self._wake_loop()

    def _finished(self, job: Job[Any]) -> None:
        with self._outbox_lock:
            self._outbox.append(job)

    def _wake_loop(self) -> None:
        with self._outbox_lock:
            if self._wake_pending or not self._outbox:
                return
            self._wake_pending = True
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for these answers
            self._loop.call_soon_threadsafe(self._deliver)
