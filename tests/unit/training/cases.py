"""TrainingJobs for the unit tests: one valid spec, changed per test."""

from __future__ import annotations

from typing import Any

from ferryman.api import TrainingJob

UID = "0b7e4c4e-uid"


def training_job(name: str = "fraud-weekly", **spec_overrides: Any) -> TrainingJob:
    spec: dict[str, Any] = {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "train",
                        "image": "registry.example/train:1",
                        "command": ["python", "train.py"],
                        "env": [
                            {"name": "EXTRA", "value": "kept"},
                            {"name": "FERRYMAN_EXPERIMENT", "value": "x"},
                        ],
                    }
                ]
            }
        },
        "mlflow": {
            "trackingUri": "http://mlflow.example:5000",
            "experiment": "fraud",
            "registeredModel": "fraud",
        },
        "data": {"uri": "s3://data/fraud.parquet", "version": "2026-11-01"},
        "params": {"trees": "50", "depth": "3"},
        "validation": {
            "data": [{"name": "rows", "check": "rowCount", "min": 100}],
            "metrics": [{"name": "auc", "min": 0.8}],
            "mustBeatChampion": {"metric": "auc", "minDelta": 0.01},
        },
        "promote": {"alias": "production"},
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
    }
    spec.update(spec_overrides)
    return TrainingJob.model_validate(
        {
            "apiVersion": "ferryman.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": name, "namespace": "risk", "uid": UID, "generation": 1},
            "spec": spec,
        }
    )
