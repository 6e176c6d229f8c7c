"""PSI of a batch run's feature histograms against the model's reference profile.

The same formula and empty-bin floor as the operator's drift monitor (ferryman.drift.statistics.psi,
Evidently's 0.0001 floor); repeated here because the serving image never imports the operator, and a
unit test checks the two agree on random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMPTY_BIN_FLOOR = 1e-4


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
