"""The operator's own Prometheus gauges for drift, so alerts can be written on them (docs/drift.md).

Served with the operator's other metrics (handlers/operator_metrics.py) on settings.metrics_address.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge

from ferryman.drift.rules import FeatureVerdict
from ferryman.handlers.operator_metrics import REGISTRY

DRIFT_SCORE = Gauge(
    "ferryman_drift_score",
    "Drift score of one feature (or the prediction) over the monitor's last window; test: psi, js or "
    "g_test_p_value.",
    ["namespace", "drift_monitor", "model_deployment", "feature", "test"],
    registry=REGISTRY,
)
DRIFT_DETECTED = Gauge(
    "ferryman_drift_detected",
    "1 while drift of the feature is confirmed (consecutive windows), else 0.",
    ["namespace", "drift_monitor", "model_deployment", "feature"],
    registry=REGISTRY,
)
_series: dict[tuple[str, str], set[tuple[str, ...]]] = {}


def publish(namespace: str, monitor: str, model_deployment: str, verdicts: list[FeatureVerdict],
            drifted: list[str]) -> None:  # fmt: skip
    """Set this monitor's gauges to the interval's verdicts; series of features no longer judged go away."""
    key = (namespace, monitor)
    fresh: set[tuple[str, ...]] = set()
    for verdict in verdicts:
        base = (namespace, monitor, model_deployment, verdict.name)
        scores = (("psi", verdict.psi), ("js", verdict.js), ("g_test_p_value", verdict.p_value),
                  ("accuracy", verdict.accuracy))  # fmt: skip
        for test, value in scores:
            if value is not None:
                DRIFT_SCORE.labels(*base, test).set(value)
                fresh.add((*base, test))
        DRIFT_DETECTED.labels(*base).set(1.0 if verdict.name in drifted else 0.0)
        fresh.add(base)
    _remove(_series.get(key, set()) - fresh)
    _series[key] = fresh


def forget(namespace: str, monitor: str) -> None:
    """A deleted monitor leaves no series behind."""
    _remove(_series.pop((namespace, monitor), set()))


def _remove(stale: set[tuple[str, ...]]) -> None:
    for labels in stale:
        gauge = DRIFT_SCORE if len(labels) == 5 else DRIFT_DETECTED
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)
