"""Histogram bucket counting for many series at once with vectorised numpy.

One `BucketCounts` holds the buckets of several histograms that share a metric name (one per feature).
The hot path only copies a request's rows into a preallocated buffer (one slice assignment); the buffer
is binned in one vectorised pass when it fills up or when a scrape takes a snapshot, so a scrape always
sees every row observed before it. Binning a thousand rows at once costs about as much as binning one row.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BUFFER_ROWS = 1024


class BucketCounts:
    """Per-series bucket counts under the Prometheus `le` rule (bucket i: edge[i-1] < x <= edge[i])."""

    def __init__(self, edges_per_series: Sequence[Sequence[float]], buffer_rows: int = BUFFER_ROWS) -> None:
        if not edges_per_series:
            raise ValueError("at least one series is needed")
        self.edges = [list(map(float, edges)) for edges in edges_per_series]
        series = len(self.edges)
        width = max((len(edges) for edges in self.edges), default=0)
        # Series with fewer edges are padded with +inf: no finite value exceeds +inf, so padded
        # buckets stay empty; values above the last real edge (and NaN) land at or beyond index
        # len(edges), which `cumulative` folds into the +Inf bucket.
        self._edge_matrix = np.full((series, width), np.inf)
        for row, edges in enumerate(self.edges):
            self._edge_matrix[row, : len(edges)] = edges
        self._slots = width + 1
        self._offsets = np.arange(series) * self._slots
        self._counts = np.zeros((series, self._slots), dtype=np.int64)
        self._sums = np.zeros(series, dtype=np.float64)
        self._buffer = np.empty((buffer_rows, series), dtype=np.float64)
        self._buffered = 0
        # Requests are counted on the inference worker threads while /metrics reads on the event loop.
        self._lock = threading.Lock()

    @property
    def series(self) -> int:
        return len(self.edges)

    def observe(self, rows: np.ndarray) -> None:
        """Record a [n, series] matrix: column j is observed by series j."""
        with self._lock:
            self._observe(rows)

    def _observe(self, rows: np.ndarray) -> None:
        start = self._buffered
        end = start + rows.shape[0]
        if end > len(self._buffer):
            self._flush()
            if rows.shape[0] > len(self._buffer):
                self._count(rows.astype(np.float64, copy=False))
                return
            start, end = 0, rows.shape[0]
        self._buffer[start:end] = rows
        self._buffered = end

    def _flush(self) -> None:
        if self._buffered:
            self._count(self._buffer[: self._buffered])
            self._buffered = 0

    def _count(self, values: np.ndarray) -> None:
        # NaN compares False everywhere, so `not (x <= e)` sends NaN to the overflow bucket.
        slots = np.count_nonzero(~(values[:, :, None] <= self._edge_matrix), axis=2) + self._offsets
        self._counts += np.bincount(slots.ravel(), minlength=self._counts.size).reshape(self._counts.shape)
        self._sums += np.nansum(values, axis=0)

    def snapshot(self) -> BucketSnapshot:
        """A copy of the counts with every buffered row binned, for reading off the hot path's threads."""
        with self._lock:
            self._flush()
            return BucketSnapshot(self.edges, self._counts.copy(), self._sums.copy())


@dataclass(frozen=True)
class BucketSnapshot:
    """The counts of a BucketCounts at one moment."""

    edges: list[list[float]]
    counts: np.ndarray  # [series, slots]
    sums: np.ndarray  # sum of observed values per series (NaN ignored)

    def cumulative(self, series: int) -> list[tuple[float, int]]:
        """(upper edge, cumulative count) pairs for one series, ending with (+inf, total)."""
        running = np.cumsum(self.counts[series])
        edges = self.edges[series]
        pairs = [(edge, int(running[i])) for i, edge in enumerate(edges)]
        pairs.append((float("inf"), int(running[-1])))
        return pairs
