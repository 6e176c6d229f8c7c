"""Thin Kopf handlers. Importing this package registers all of them (`kopf run -m ferryman.handlers`)."""

from ferryman.handlers import (
    alias_follow,
    batch_metrics,
    batch_schedule,
    drift_monitor,
    model_deployment,
    rollout_metrics,
    rollout_steps,
    stable_readiness,
    startup,
    training_job,
    training_judge,
    training_schedule,
)

__all__ = [
    "alias_follow",
    "batch_metrics",
    "batch_schedule",
    "drift_monitor",
    "model_deployment",
    "rollout_metrics",
    "rollout_steps",
    "stable_readiness",
    "startup",
    "training_job",
    "training_judge",
    "training_schedule",
]
