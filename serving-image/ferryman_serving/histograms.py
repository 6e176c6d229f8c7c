"""Histogram bucket counting for many series at once with vectorised numpy.

One `BucketCounts` holds the buckets of several histograms that share a metric name (one per feature).
Each request costs one comparison, one bincount and one add; Prometheus reads the arrays at scrape time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BucketCounts:
    """Per-series bucket counts under the Prometheus `le` rule (bucket i: edge[i-1] < x <= edge[i])."""

    def __init__(self, edges_per_series: Sequence[Sequence[float]]) -> None:
        if not edges_per_series:
            raise ValueError("at least one series is needed")
        self.edges = [list(map(float, edges)) for edges in edges_per_series]
        series = len(self.edges)
        width = max((len(edges) for edges in self.edges), default=0)
        # Series with fewer edges are padded with +inf: no finite value exceeds +inf, so padded
        # buckets stay empty; values above the last real edge (and NaN) land at or beyond index
        # len(edges), which the exposition folds into the +Inf bucket.
        self._edge_matrix = np.full((series, width), np.inf)
        for row, edges in enumerate(self.edges):
            self._edge_matrix[row, : len(edges)] = edges
        self._slots = width + 1
        self._offsets = np.arange(series) * self._slots
        self.counts = np.zeros((series, self._slots), dtype=np.int64)
        self.sums = np.zeros(series, dtype=np.float64)

    @property
    def series(self) -> int:
        return len(self.edges)

    def observe(self, rows: np.ndarray) -> None:
        """Count a [n, series] matrix: column j is observed by series j."""
        values = rows.astype(np.float64, copy=False)
        # NaN compares False everywhere, so `not (x <= e)` sends NaN to the overflow bucket.
        slots = np.sum(~(values[:, :, None] <= self._edge_matrix), axis=2) + self._offsets
        self.counts += np.bincount(slots.ravel(), minlength=self.counts.size).reshape(self.counts.shape)
        self.sums += np.nansum(values, axis=0)

    def cumulative(self, series: int) -> list[tuple[float, int]]:
        """(upper edge, cumulative count) pairs for one series, ending with (+inf, total)."""
        edges = self.edges[series]
        running = np.cumsum(self.counts[series])
        pairs = [(edge, int(running[i])) for i, edge in enumerate(edges)]
        pairs.append((float("inf"), int(running[-1])))
        return pairs
