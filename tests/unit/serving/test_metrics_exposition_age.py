"""A serving pod builds /metrics at most every half second: a scraping loop cannot stall its event loop."""

from __future__ import annotations

import pytest

from ferryman_serving.metrics import EXPOSITION_MAX_AGE_SECONDS, ServingMetrics

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def requests_200(exposition: bytes) -> str:
    line = next(line for line in exposition.decode().splitlines() if 'code="200"' in line)
    return line.rsplit(" ", 1)[1]


def test_scrapes_within_the_max_age_get_the_same_bytes_and_a_later_one_the_new_counts() -> None:
    clock = Clock()
    metrics = ServingMetrics("fraud", clock=clock)
    metrics.set_version("3")
    first = metrics.exposition()
    metrics.record_request(200, 0.002)
    clock.now += EXPOSITION_MAX_AGE_SECONDS * 0.9
    assert metrics.exposition() is first, "within the max age: not built again"
    clock.now += EXPOSITION_MAX_AGE_SECONDS * 0.1
    assert (requests_200(first), requests_200(metrics.exposition())) == ("0.0", "1.0")
