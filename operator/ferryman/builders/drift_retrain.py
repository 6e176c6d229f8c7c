"""The TrainingJob a DriftMonitor creates on confirmed drift: pure, from the monitor's template.

Named `<monitor>-drift-<n>` (the monitor's n-th retrain), so the same decision retried after a failed
status write applies the same object instead of a second one. The drifted features and their scores are
in annotations, so a user reading the TrainingJob can tell which drift caused it.
"""

from __future__ import annotations

import re
from typing import Any

from ferryman.api import API_VERSION, DriftMonitor
from ferryman.builders.naming import LABEL_MANAGED_BY, MANAGED_BY, MAX_LABEL_VALUE, bounded_name
from ferryman.builders.ownership import owner_reference

LABEL_DRIFT_MONITOR = "ferryman.dev/drift-monitor"
ANNOTATION_FEATURES = "ferryman.dev/drifted-features"
ANNOTATION_SCORES = "ferryman.dev/drift-scores"
MAX_MONITOR_PREFIX = 40


def retrain_number(last_training_job: str | None) -> int:
    """1 for the first retrain, else one more than the number the last one's name ends with."""
    match = re.search(r"-drift-([0-9]+)$", last_training_job or "")
    return int(match.group(1)) + 1 if match else 1


def retrain_name(monitor: str, number: int) -> str:
    suffix = f"-drift-{number}"
    return bounded_name(monitor, suffix, MAX_MONITOR_PREFIX + len(suffix))


def build_retrain_training_job(
    dm: DriftMonitor, name: str, features: list[str], scores: str
) -> dict[str, Any]:
    """The TrainingJob manifest, owned by the monitor (deleting the monitor deletes its retrains)."""
    assert dm.spec.on_drift is not None and dm.spec.on_drift.retrain is not None
    template = dm.spec.on_drift.retrain.training_job_template
    meta = template.metadata
    labels = {**((meta.labels if meta else None) or {}), LABEL_MANAGED_BY: MANAGED_BY,
              LABEL_DRIFT_MONITOR: bounded_name(dm.metadata.name, "", MAX_LABEL_VALUE)}  # fmt: skip
    annotations = {
        **((meta.annotations if meta else None) or {}),
        ANNOTATION_FEATURES: ",".join(features),
        ANNOTATION_SCORES: scores[:4096],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {
            "name": name,
            "namespace": dm.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(dm)],
        },
        "spec": template.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
