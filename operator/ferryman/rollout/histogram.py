"""Reading a Prometheus histogram's cumulative buckets: requests above a limit, and a quantile for people."""

from __future__ import annotations

import math
from collections.abc import Sequence

Buckets = Sequence[tuple[float, float]]  # (upper bound `le`, cumulative count), +Inf included


def count_above(buckets: Buckets, limit: float) -> tuple[float, float, float]:
    """(requests slower than the judged boundary, all requests, that boundary).

    The boundary is the largest bucket bound <= limit: a histogram cannot tell where between two
    bounds a request fell, and judging at the lower bound never lets a request over the limit pass
    as fast. Make the limit a bucket bound (docs/metrics.md lists the server's) to judge it exactly.
    """
    ordered = sorted(buckets)
    if not ordered:
        return 0.0, 0.0, limit
    total = ordered[-1][1]
    below = [(bound, count) for bound, count in ordered if bound <= limit]
    if not below:
        return total, total, 0.0
    bound, count = below[-1]
    return max(0.0, total - count), total, bound


def quantile(buckets: Buckets, q: float) -> float | None:
    """Prometheus' histogram_quantile (linear within a bucket), None without requests."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound
