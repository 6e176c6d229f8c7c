"""DriftMonitor handlers: every interval, read one Prometheus answer, judge, maybe retrain, report.

The monitor's memory (streaks, last check, last retrain) lives in .status; a tick decides from it and
writes status with a resourceVersion precondition, so a restart or a concurrent writer never double-acts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from ferryman import k8s
from ferryman.api import GROUP, VERSION, DriftMonitor
from ferryman.api.durations import parse_duration
from ferryman.api.vocabulary import format_timestamp
from ferryman.builders.drift_retrain import build_retrain_training_job, retrain_name, retrain_number
from ferryman.builders.drift_status import (
    Assessment,
    DriftObservation,
    assess,
    describe_scores,
    drift_status,
    rollout_active,
    stable_version,
)
from ferryman.builders.status import condition, with_other_conditions
from ferryman.builders.training_phase import TERMINAL_PHASES
from ferryman.config import Settings
from ferryman.drift.rules import RetrainContext, decide_retrain
from ferryman.drift.window import window_from_series
from ferryman.handlers import drift_gauges
from ferryman.handlers.spec_errors import describe_validation_error
from ferryman.handlers.status_writes import write_status
from ferryman.prometheus import PrometheusError, PrometheusSource, drift_window_query

PLURAL = "driftmonitors"
TICK_SECONDS = 5.0
EVENT_TYPES = {"Drifted": "Warning", "Degraded": "Warning"}
log = logging.getLogger("ferryman.drift")


def _due(previous: dict[str, Any], interval_seconds: float, now: datetime) -> bool:
    last = previous.get("lastCheckTime")
    if not last:
        return True
    return (now - datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds() >= interval_seconds


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS)
def check_drift(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Once per spec.interval: judge the window, retrain when the rules allow, write status and gauges."""
    config: Settings = memo.config
    previous = dict(body.status)
    now = datetime.now(UTC)
    try:
        dm = DriftMonitor.model_validate(body)
    except (ValidationError, ValueError) as error:
        _report_invalid(body, previous, describe_validation_error(error), now)
        return
    if not _due(previous, parse_duration(dm.spec.interval).total_seconds(), now):
        return
    namespace = dm.metadata.namespace or "default"
    md = k8s.get(k8s.MODEL_DEPLOYMENT, namespace, dm.spec.model_deployment_ref.name)
    observation = observe_drift(dm, md, memo.prometheus, now)
    assessment = assess(dm, observation, previous)
    try:
        phase, retrain = _act_on_drift(body, dm, md, assessment, previous, config, now)
    except kopf.PermanentError as refused:  # the template makes a TrainingJob the API server refuses
        phase, retrain = assessment.phase, None
        message = f"spec.onDrift.retrain.trainingJobTemplate: the TrainingJob was refused: {refused}"[:1024]
        assessment = replace(assessment, ready="False", reason="RetrainRefused", message=message)
        if previous.get("message") != message:
            kopf.warn(body, reason="RetrainRefused", message=message)
    desired = drift_status(dm, assessment, previous, now, phase)
    if retrain is not None:
        desired["lastRetrain"] = retrain
    write_status(body, desired, kind=k8s.DRIFT_MONITOR)
    if assessment.metrics_read:  # else the last interval's gauges stand, as its status does
        drift_gauges.publish(namespace, dm.metadata.name, dm.spec.model_deployment_ref.name,
                             assessment.verdicts, assessment.drifted_features)  # fmt: skip
    if phase != previous.get("phase"):
        kopf.event(
            body, type=EVENT_TYPES.get(phase, "Normal"), reason=phase, message=assessment.message[:1024]
        )
        log.info("%s/%s: %s", namespace, dm.metadata.name, assessment.message, extra={"decision": phase})


def observe_drift(
    dm: DriftMonitor, md: dict[str, Any] | None, prometheus: PrometheusSource, now: datetime
) -> DriftObservation:
    """The ModelDeployment and, when it serves a version, the window from one Prometheus query."""
    version = stable_version(md)
    if md is None or version is None:
        return DriftObservation(md)
    window_seconds = int(parse_duration(dm.spec.window).total_seconds())
    query = drift_window_query(dm.metadata.namespace or "default", dm.spec.model_deployment_ref.name,
                               version, window_seconds)  # fmt: skip
    try:
        series = prometheus.vector(query, now)
    except PrometheusError as error:
        return DriftObservation(md, error=str(error))
    return DriftObservation(md, window_from_series(series, dm.spec.features))


def _act_on_drift(
    body: kopf.Body, dm: DriftMonitor, md: dict[str, Any] | None, assessment: Assessment,
    previous: dict[str, Any],
    config: Settings, now: datetime,
) -> tuple[str, dict[str, Any] | None]:  # fmt: skip
    """The phase to report and, when a TrainingJob was created now, the lastRetrain record."""
    last = previous.get("lastRetrain") or {}
    running = _running_retrain(dm, last.get("trainingJob"))
    on_drift = dm.spec.on_drift
    context = RetrainContext(
        drifted_features=tuple(assessment.drifted_features) if assessment.judged else (),
        retrain_configured=on_drift is not None and on_drift.retrain is not None,
        last_retrain_at=datetime.fromisoformat(last["at"].replace("Z", "+00:00")) if last.get("at") else None,
        cooldown=parse_duration(on_drift.cooldown if on_drift else "6h"),
        retrain_running=running,
        rollout_active=rollout_active(md),
    )
    decision = decide_retrain(context, now)
    if not decision.start:
        if assessment.drifted_features and context.retrain_configured:
            log.info("%s: no retrain: %s", dm.metadata.name, decision.reason, extra={"decision": "hold"})
        return ("Retraining" if running else assessment.phase), None
    name = retrain_name(dm.metadata.name, retrain_number(last.get("trainingJob")))
    scores = describe_scores(assessment.verdicts, assessment.drifted_features)
    manifest = build_retrain_training_job(dm, name, assessment.drifted_features, scores)
    k8s.apply(manifest, config.field_manager)
    kopf.event(body, type="Normal", reason="RetrainStarted",
               message=f"TrainingJob {name} created: {scores}"[:1024])  # fmt: skip
    record = {"at": format_timestamp(now), "trainingJob": name, "features": assessment.drifted_features}
    return "Retraining", record


def _running_retrain(dm: DriftMonitor, name: str | None) -> str | None:
    """The monitor's last TrainingJob while it has not finished (deleted counts as finished)."""
    if not name:
        return None
    job = k8s.get(k8s.TRAINING_JOB, dm.metadata.namespace, name)
    if job is None:
        return None
    return None if (job.get("status") or {}).get("phase") in TERMINAL_PHASES else name


def _report_invalid(body: kopf.Body, previous: dict[str, Any], message: str, now: datetime) -> None:
    if previous.get("message") == message:
        return
    ready = condition("Ready", "False", "InvalidSpec", message, now=now, previous=previous.get("conditions"))
    write_status(body, {"phase": "Degraded", "message": message,
                        "conditions": with_other_conditions([ready], previous.get("conditions"))},
                 kind=k8s.DRIFT_MONITOR)  # fmt: skip
    kopf.warn(body, reason="InvalidSpec", message=message[:1024])


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget_drift_monitor(namespace: str | None, name: str | None, **_: Any) -> None:
    """Its gauges go with it (its TrainingJobs are garbage-collected through their owner reference)."""
    drift_gauges.forget(namespace or "default", name or "")
