"""Body reads past their deadline are cancelled by the sweep, and only those."""

from __future__ import annotations

import asyncio

import pytest

from ferryman_serving.uploads import SWEEP_INTERVAL_SECONDS, UploadDeadlines

pytestmark = pytest.mark.unit


async def read(uploads: UploadDeadlines, body: asyncio.Future[bytes], deadline: float) -> bytes | str:
    """What a request does: read its body, a deadline's TimeoutError turned into an answer."""
    try:
        return await uploads.read(body, deadline)
    except TimeoutError:
        return "timed out"


async def ends_cancelled(task: asyncio.Future[bytes | str]) -> bool:
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def test_a_read_past_its_deadline_ends_within_a_sweep_and_one_in_time_is_untouched() -> None:
    async def scenario() -> tuple[list[bytes | str], float, bool]:
        loop = asyncio.get_running_loop()
        uploads = UploadDeadlines()
        start = loop.time()
        stalled: asyncio.Future[bytes] = loop.create_future()
        arriving: asyncio.Future[bytes] = loop.create_future()
        loop.call_later(0.1, arriving.set_result, b"body")
        reads = [read(uploads, stalled, start + 0.3), read(uploads, arriving, start + 0.3)]
        results = await asyncio.gather(*reads)
        elapsed = loop.time() - start
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS * 2)
        return results, elapsed, uploads._sweeping

    results, elapsed, still_sweeping = asyncio.run(scenario())
    assert results == ["timed out", b"body"]
    assert 0.3 <= elapsed <= 0.3 + SWEEP_INTERVAL_SECONDS + 0.2
    assert not still_sweeping, "the sweep must stop once no read is pending"


def test_a_cancellation_from_elsewhere_is_not_taken_for_the_deadline() -> None:
    """Shutdown cancels a request that is reading its body: that must stay a cancellation."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        uploads = UploadDeadlines()
        task = asyncio.ensure_future(read(uploads, loop.create_future(), loop.time() + 60))
        await asyncio.sleep(0.01)
        task.cancel()
        return await ends_cancelled(task)

    assert asyncio.run(scenario())


def test_a_deadline_and_a_cancellation_from_elsewhere_together_stay_a_cancellation() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        uploads = UploadDeadlines()
        task = asyncio.ensure_future(read(uploads, loop.create_future(), loop.time()))
        await asyncio.sleep(0)  # the read is waiting now
        uploads._sweep()  # the deadline's cancellation
        task.cancel()  # and another one before the task runs again
        return await ends_cancelled(task)

    assert asyncio.run(scenario())
