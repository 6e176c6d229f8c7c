"""The operator's /metrics exposition is built at most once per max_age, whatever the scrape rate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from ferryman.handlers.metrics_endpoint import Exposition
from ferryman_testing.clock import FakeClock

pytestmark = pytest.mark.unit


class CountedCollector:
    """One gauge whose value the test sets; counts how often the registry collects it (one per build)."""

    def __init__(self) -> None:
        self.value = 0.0
        self.builds = 0

    def collect(self) -> Iterator[Metric]:
        self.builds += 1
        yield GaugeMetricFamily("example", "An example.", value=self.value)


def test_scrapes_within_max_age_share_one_build_and_a_later_one_sees_changes() -> None:
    registry = CollectorRegistry(auto_describe=False)
    collector = CountedCollector()
    registry.register(collector)
    clock = FakeClock()
    exposition = Exposition(registry, max_age=1.0, clock=clock)

    async def scrapes() -> tuple[list[bytes], bytes, bytes]:
        concurrent = list(await asyncio.gather(*(exposition.latest() for _ in range(50))))
        collector.value = 7
        clock.now += 0.9
        within_max_age = await exposition.latest()
        clock.now += 0.1
        return concurrent, within_max_age, await exposition.latest()

    concurrent, within_max_age, later = asyncio.run(scrapes())
    assert len(set(concurrent)) == 1 and b"example 0.0" in concurrent[0]
    assert within_max_age == concurrent[0]
    assert b"example 7.0" in later
    assert collector.builds == 2, "51 scrapes within max_age, then one after: two builds"
