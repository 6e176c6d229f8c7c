"""The worker hand-off: every request gets its own outcome, hand-offs are batched, a fast job is not held
back by a slow one, and deadlines hold for queued and running jobs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import onnxruntime as ort
import pytest

from ferryman_serving.errors import TimedOut
from ferryman_serving.workers import DELIVERY_INTERVAL_SECONDS, InferenceWorkers

pytestmark = pytest.mark.unit


def run_with_workers(
    threads: int, scenario: Callable[[InferenceWorkers, asyncio.AbstractEventLoop], Coroutine[Any, Any, Any]]
) -> Any:
    workers = InferenceWorkers(threads)

    async def main() -> Any:
        return await scenario(workers, asyncio.get_running_loop())

    try:
        return asyncio.run(main())
    finally:
        workers.stop()


def returns(value: Any, seconds: float = 0.0) -> Callable[[ort.RunOptions], Any]:
    def work(_: ort.RunOptions) -> Any:
        if seconds:
            time.sleep(seconds)
        return value

    return work


def fails(error: Exception) -> Callable[[ort.RunOptions], Any]:
    def work(_: ort.RunOptions) -> Any:
        raise error

    return work


@pytest.mark.parametrize("threads", [1, 3])
def test_each_request_gets_its_own_result_or_error(threads: int) -> None:
    async def scenario(workers: InferenceWorkers, loop: asyncio.AbstractEventLoop) -> list[Any]:
        deadline = loop.time() + 10
        jobs = [
            workers.run(fails(ValueError(n)) if n % 7 == 3 else returns(n), deadline, "late")
            for n in range(50)
        ]
        return await asyncio.gather(*jobs, return_exceptions=True)

    outcomes = run_with_workers(threads, scenario)

    for n, outcome in enumerate(outcomes):
        if n % 7 == 3:
            assert isinstance(outcome, ValueError) and outcome.args == (n,)
        else:
            assert outcome == n


def test_jobs_submitted_together_wake_the_loop_once_not_once_each() -> None:
    wake_ups = 0

    async def scenario(workers: InferenceWorkers, loop: asyncio.AbstractEventLoop) -> list[Any]:
        nonlocal wake_ups
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        deadline = loop.time() + 10
        return await asyncio.gather(*(workers.run(returns(n), deadline, "late") for n in range(32)))

    assert run_with_workers(1, scenario) == list(range(32))
    assert wake_ups <= 2  # one per batch at most (none when the loop's own poll collected them first)


def test_a_fast_job_is_answered_while_a_slow_one_after_it_still_runs() -> None:
    async def scenario(workers: InferenceWorkers, loop: asyncio.AbstractEventLoop) -> tuple[float, bool]:
        deadline = loop.time() + 10
        started = time.perf_counter()
        fast = asyncio.ensure_future(workers.run(returns("fast"), deadline, "late"))
        slow = asyncio.ensure_future(workers.run(returns("slow", seconds=1.0), deadline, "late"))
        await fast
        fast_seconds = time.perf_counter() - started
        still_running = not slow.done()
        await slow
        return fast_seconds, still_running

    fast_seconds, slow_still_running = run_with_workers(1, scenario)

    assert slow_still_running
    assert fast_seconds < 0.2, f"the fast job waited {fast_seconds:.3f} s for the slow one"
    assert DELIVERY_INTERVAL_SECONDS < 0.2


def test_a_job_queued_past_its_deadline_times_out_and_never_runs() -> None:
    ran = threading.Event()

    def work(_: ort.RunOptions) -> str:
        ran.set()
        return "ran"

    async def scenario(workers: InferenceWorkers, loop: asyncio.AbstractEventLoop) -> tuple[Any, float]:
        blocker_work = returns("blocker", seconds=0.6)
        blocker = asyncio.ensure_future(workers.run(blocker_work, loop.time() + 10, "late"))
        await asyncio.sleep(0.05)  # the blocker is running; the next job queues behind it
        started = time.perf_counter()
        try:
            await workers.run(work, loop.time() + 0.1, "the request took too long")
        except TimedOut as error:
            outcome: Any = error
        waited = time.perf_counter() - started
        await blocker
        await asyncio.sleep(0.05)  # the worker has passed the expired job by now
        return outcome, waited

    outcome, waited = run_with_workers(1, scenario)

    assert isinstance(outcome, TimedOut) and "too long" in outcome.message
    assert waited < 0.4
    assert not ran.is_set()


def test_a_running_job_is_told_to_stop_at_its_deadline() -> None:
    seen_terminate = threading.Event()

    def work(run_options: ort.RunOptions) -> str:
        for _ in range(200):
            if run_options.terminate:
                seen_terminate.set()
                return "stopped"
            time.sleep(0.01)
        return "finished"

    async def scenario(workers: InferenceWorkers, loop: asyncio.AbstractEventLoop) -> Any:
        with pytest.raises(TimedOut):
            await workers.run(work, loop.time() + 0.1, "late")

    run_with_workers(1, scenario)
    assert seen_terminate.wait(1)
