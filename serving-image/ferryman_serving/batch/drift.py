"""Batch drift: histograms of a run's features and predictions on the reference profile's edges, and
their PSI against the profile's proportions.

Counting uses the profile's binning rule (`le`: bin i holds e_{i-1} < x <= e_i, NaN in the last bin)
as one vectorised comparison per edge over a whole column: on 64k-row batches the serving metrics'
[rows, series, edges] comparison cost half as much as session.run itself, this costs a few percent.

The same formula and empty-bin floor as the operator's drift monitor (ferryman.drift.statistics.psi,
Evidently's 0.0001 floor); repeated here because the serving image never imports the operator, and a
unit test checks the two agree on random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMPTY_BIN_FLOOR = 1e-4


class BinCounts:
    """Counts per bin of several series (columns), each with its own edges."""

    def __init__(self, edges_per_series: Sequence[Sequence[float]]) -> None:
        self.edges = [np.asarray(edges, dtype=np.float64) for edges in edges_per_series]
        self.counts = [np.zeros(len(edges) + 1, dtype=np.int64) for edges in self.edges]

    def observe(self, columns: np.ndarray) -> None:
        """Count a [rows, series] matrix: column j into series j."""
        rows = columns.shape[0]
        for j, edges in enumerate(self.edges):
            values = columns[:, j].astype(np.float64, copy=False)
            # How many values are <= each edge (NaN never is): cumulative counts, then per bin.
            at_or_below = [np.count_nonzero(values <= edge) for edge in edges]
            bounds = np.asarray([0, *at_or_below, rows], dtype=np.int64)
            self.counts[j] += bounds[1:] - bounds[:-1]

    def of(self, series: int) -> list[int]:
        return [int(c) for c in self.counts[series]]


def psi(counts: Sequence[float], reference_proportions: Sequence[float]) -> float | None:
    """Population Stability Index of counts against proportions over the same bins; None with no rows."""
    live = np.asarray(counts, dtype=np.float64)
    reference = np.asarray(reference_proportions, dtype=np.float64)
    if live.size != reference.size:
        raise ValueError(f"{live.size} bins against {reference.size} reference bins")
    if live.sum() <= 0 or reference.sum() <= 0:
        return None
    p = _floored(live / live.sum())
    q = _floored(reference / reference.sum())
    return float(np.sum((p - q) * np.log(p / q)))


def _floored(shares: np.ndarray) -> np.ndarray:
    lifted = np.maximum(shares, EMPTY_BIN_FLOOR)
    result: np.ndarray = lifted / lifted.sum()
    return result
