"""Vectorised histogram counting agrees with the Prometheus `le` definition, row by row."""

import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ferryman_serving.histograms import BucketCounts

pytestmark = pytest.mark.unit


def brute_force_cumulative(values: np.ndarray, edges: list[float]) -> list[int]:
    return [int(np.sum(values <= e)) for e in edges] + [len(values)]


edge_lists = st.lists(st.floats(-100, 100, allow_nan=False), min_size=0, max_size=6, unique=True).map(sorted)


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(edge_lists, min_size=1, max_size=4),
    rows=st.integers(0, 40),
    data=st.data(),
)
def test_cumulative_counts_match_a_brute_force_count(
    edges: list[list[float]], rows: int, data: st.DataObject
) -> None:
    """For any edges (different per series) and any values, bucket le=e counts the values <= e."""
    matrix = data.draw(hnp.arrays(np.float32, (rows, len(edges)), elements=st.floats(-200, 200, width=32)))
    counts = BucketCounts(edges, buffer_rows=7)  # small buffer: exercises flushes mid-stream
    for start in range(0, rows, 5):
        counts.observe(matrix[start : start + 5])
    for series, series_edges in enumerate(edges):
        got = [count for _, count in counts.snapshot().cumulative(series)]
        assert got == brute_force_cumulative(matrix[:, series].astype(np.float64), series_edges)


def test_nan_and_infinity_count_only_in_the_inf_bucket() -> None:
    """NaN and +inf are observations (they count) but fall in no finite bucket."""
    counts = BucketCounts([[0.0, 1.0]])
    counts.observe(np.array([[np.nan], [np.inf], [0.5]]))
    assert counts.snapshot().cumulative(0) == [(0.0, 0), (1.0, 1), (float("inf"), 3)]


def test_batches_larger_than_the_buffer_are_counted() -> None:
    """A batch bigger than the buffer is binned directly and nothing is lost."""
    counts = BucketCounts([[0.0]], buffer_rows=4)
    counts.observe(np.array([[-1.0], [1.0]]))
    counts.observe(np.full((10, 1), -2.0))
    assert counts.snapshot().cumulative(0) == [(0.0, 11), (float("inf"), 12)]
    assert counts.snapshot().sums[0] == pytest.approx(-20.0)


def test_rows_observed_on_a_worker_while_scrapes_take_snapshots_are_all_counted() -> None:
    """Workers observe while the event loop snapshots (and so flushes) for /metrics: not one row may be
    lost or doubled."""
    counts = BucketCounts([[0.0, 1.0]], buffer_rows=64)
    row = np.array([[0.5]])
    observed = 20_000
    done = threading.Event()

    def observe() -> None:
        for _ in range(observed):
            counts.observe(row)
        done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up at once
    try:
        worker = threading.Thread(target=observe)
        worker.start()
        while not done.is_set():
            counts.snapshot()
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert counts.snapshot().cumulative(0)[-1] == (float("inf"), observed)
