"""Turn the answer of the monitor's one PromQL query into binned series, or say what is missing.

The query (ferryman.prometheus.drift_window_query) returns, for the stable version's pods:
- source="live": `increase()` of every feature and prediction bucket over the window, cumulative by `le`;
- source="reference": the reference profile's proportion of each bin, by the bin's upper edge `le`;
- source="samples": how many training rows the profile summarises;
- source="ready": present when a pod of that version is exporting metrics at all;
- source="labelled" and "correct": rows scored against delayed labels in the window, and the right ones.
Series without a `feature` label are the prediction's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ferryman.drift.rules import BinnedFeature

PREDICTION = "prediction"


@dataclass(frozen=True, slots=True)
class DriftWindow:
    features: list[BinnedFeature] = field(default_factory=list)
    reference_samples: float = 0.0
    pods_seen: bool = False
    profile_seen: bool = False
    mismatched: list[str] = field(default_factory=list)  # live bins differ from the reference's
    labelled: float = 0.0  # rows scored against delayed labels in the window
    correct: float | None = None  # None: the pods export no correct-rows series (a regressor)


def _edge(labels: Mapping[str, str]) -> float:
    try:
        return float(labels.get("le", "nan"))
    except ValueError:
        return math.nan


def per_bin(cumulative: Mapping[float, float]) -> tuple[float, ...]:
    """Per-bin counts from cumulative `le` buckets. increase() extrapolates each bucket on its own, so
    neighbours can be out of order by a fraction; a negative difference is read as an empty bin."""
    counts, below = [], 0.0
    for edge in sorted(cumulative):
        counts.append(max(cumulative[edge] - below, 0.0))
        below = max(below, cumulative[edge])
    return tuple(counts)


def window_from_series(
    series: Iterable[tuple[Mapping[str, str], float]], wanted: list[str] | None
) -> DriftWindow:
    """Group the query's series per feature; `wanted` = the spec's features (None: all in the profile)."""
    live: dict[str, dict[float, float]] = {}
    reference: dict[str, dict[float, float]] = {}
    samples, pods_seen = 0.0, False
    feedback: dict[str, float | None] = {"labelled": 0.0, "correct": None}
    for labels, value in series:
        source = labels.get("source")
        name = labels.get("feature") or PREDICTION
        if source in feedback:
            feedback[str(source)] = value
        elif source == "samples":
            samples = value
        elif source == "ready":
            pods_seen = True
        elif source in ("live", "reference") and not math.isnan(_edge(labels)):
            target = live if source == "live" else reference
            target.setdefault(name, {})[_edge(labels)] = value
    features, mismatched = [], []
    for name in sorted(reference, key=lambda n: (n == PREDICTION, n)):
        if wanted is not None and name not in wanted and name != PREDICTION:
            continue
        edges = sorted(reference[name])
        live_buckets = live.get(name, {})
        if live_buckets and sorted(live_buckets) != edges:
            mismatched.append(name)
            continue
        counts = per_bin(live_buckets) if live_buckets else tuple(0.0 for _ in edges)
        proportions = tuple(reference[name][edge] for edge in edges)
        features.append(BinnedFeature(name, counts, proportions))
    return DriftWindow(
        features, samples, pods_seen or bool(live), bool(reference), mismatched,
        feedback["labelled"] or 0.0, feedback["correct"],
    )  # fmt: skip


def unknown_features(window: DriftWindow, wanted: list[str] | None) -> list[str]:
    """Features the spec names that the profile does not have."""
    if wanted is None:
        return []
    known = {f.name for f in window.features} | set(window.mismatched)
    return [name for name in wanted if name not in known]
