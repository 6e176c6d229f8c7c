"""/metrics builds: every answer counts what happened before its scrape, builds never overlap and are
spaced, and a scraper that hangs up or a build that fails does not break the scrapes after it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

import ferryman_serving.exposition as exposition_module
from ferryman_serving.exposition import MAX_BUILD_SHARE, MAX_GAP_SECONDS, Exposition, gap_after
from ferryman_serving.metrics import MetricsSnapshot, ServingMetrics, render

pytestmark = pytest.mark.unit

HOLD_SECONDS = 10.0  # a held build waits at most this long for its test to release it


def requests_counted(text: bytes) -> float:
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == "ferryman_requests_total" and sample.labels["code"] == "200":
                return sample.value
    raise AssertionError("no ferryman_requests_total for code 200")


def served_metrics() -> ServingMetrics:
    metrics = ServingMetrics("m")
    metrics.set_version("1")
    return metrics


class HeldRenders:
    """Stands in for `render`: records each snapshot, and holds the first build until `release()`."""

    def __init__(self, fail_first: bool = False) -> None:
        self.snapshots: list[MetricsSnapshot] = []
        self.fail_first = fail_first
        self._gate = threading.Event()

    def __call__(self, snapshot: MetricsSnapshot) -> bytes:
        self.snapshots.append(snapshot)
        if len(self.snapshots) == 1:
            self._gate.wait(HOLD_SECONDS)
            if self.fail_first:
                raise RuntimeError("formatting failed")
        return render(snapshot)

    def release(self) -> None:
        self._gate.set()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Callable[..., HeldRenders]:
    def install(fail_first: bool = False) -> HeldRenders:
        renders = HeldRenders(fail_first)
        monkeypatch.setattr(exposition_module, "render", renders)
        return renders

    return install


def test_each_scrape_counts_every_request_finished_before_it() -> None:
    metrics = served_metrics()

    async def scrapes() -> list[float]:
        exposition = Exposition(metrics)
        counted = []
        for _ in range(3):
            metrics.record_request(200, 0.001)
            counted.append(requests_counted(await exposition.latest()))
        return counted

    assert asyncio.run(scrapes()) == [1, 2, 3]


def test_scrapes_that_arrive_during_a_build_share_the_next_one(held: Callable[..., HeldRenders]) -> None:
    """One build runs (held); a request finishes; five scrapes arrive. They must not get the running
    build's answer, which misses that request: they wait for one more build, which all five share."""
    metrics = served_metrics()
    renders = held()

    async def scrapes() -> list[float]:
        exposition = Exposition(metrics)
        metrics.record_request(200, 0.001)
        first = asyncio.ensure_future(exposition.latest())
        await asyncio.sleep(0)  # the first build has taken its snapshot
        metrics.record_request(200, 0.001)
        later = [asyncio.ensure_future(exposition.latest()) for _ in range(5)]
        await asyncio.sleep(0)
        renders.release()
        return [requests_counted(text) for text in await asyncio.gather(first, *later)]

    assert asyncio.run(scrapes()) == [1, 2, 2, 2, 2, 2]
    assert len(renders.snapshots) == 2


def test_scrapers_that_hang_up_do_not_cancel_the_build_others_wait_for(
    held: Callable[..., HeldRenders],
) -> None:
    metrics = served_metrics()
    renders = held()

    async def scrapes() -> float:
        exposition = Exposition(metrics)
        running = asyncio.ensure_future(exposition.latest())
        await asyncio.sleep(0)
        leaving = asyncio.ensure_future(exposition.latest())
        staying = asyncio.ensure_future(exposition.latest())
        await asyncio.sleep(0)
        running.cancel()
        leaving.cancel()
        metrics.record_request(200, 0.001)
        renders.release()
        return requests_counted(await staying)

    assert asyncio.run(scrapes()) == 1


def test_a_failed_build_fails_its_scrapes_and_the_next_scrape_builds_again(
    held: Callable[..., HeldRenders],
) -> None:
    metrics = served_metrics()
    renders = held(fail_first=True)

    async def scrapes() -> tuple[BaseException | bytes, float]:
        exposition = Exposition(metrics)
        failing = asyncio.ensure_future(exposition.latest())
        await asyncio.sleep(0)
        renders.release()
        (outcome,) = await asyncio.gather(failing, return_exceptions=True)
        metrics.record_request(200, 0.001)
        return outcome, requests_counted(await exposition.latest())

    outcome, counted = asyncio.run(scrapes())
    assert isinstance(outcome, RuntimeError)
    assert counted == 1


def test_builds_are_spaced_so_that_they_take_a_bounded_share_of_the_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back-to-back scrapes of a 20 ms build: the second build starts at least 9 builds' time after the
    first ended (MAX_BUILD_SHARE 0.1), so a flood of scrapes cannot keep a thread formatting."""
    spans: list[tuple[float, float]] = []

    def slow_render(snapshot: MetricsSnapshot) -> bytes:
        started = time.monotonic()
        time.sleep(0.02)
        text = render(snapshot)
        spans.append((started, time.monotonic()))
        return text

    monkeypatch.setattr(exposition_module, "render", slow_render)

    async def scrapes() -> None:
        exposition = Exposition(served_metrics())
        await exposition.latest()
        await exposition.latest()

    asyncio.run(scrapes())
    (first_start, first_end), (second_start, _) = spans
    assert second_start - first_end >= gap_after(first_end - first_start) - 0.001


def test_the_gap_is_nine_builds_long_and_capped() -> None:
    assert MAX_BUILD_SHARE == 0.1
    assert gap_after(0.005) == pytest.approx(0.045)
    assert gap_after(2.0) == MAX_GAP_SECONDS


def test_a_snapshot_that_fails_fails_its_scrape_and_does_not_block_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = served_metrics()
    real_snapshot = metrics.snapshot
    calls: list[int] = []

    def failing_once() -> MetricsSnapshot:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("snapshot failed")
        return real_snapshot()

    monkeypatch.setattr(metrics, "snapshot", failing_once)

    async def scrapes() -> tuple[BaseException | bytes, float]:
        exposition = Exposition(metrics)
        (outcome,) = await asyncio.gather(exposition.latest(), return_exceptions=True)
        metrics.record_request(200, 0.001)
        return outcome, requests_counted(await asyncio.wait_for(exposition.latest(), HOLD_SECONDS))

    outcome, counted = asyncio.run(scrapes())
    assert isinstance(outcome, RuntimeError)
    assert counted == 1
