"""A DriftMonitor's judgement of one interval as a pure function of what the handler read.

Everything missing is said, never guessed: no ModelDeployment, no stable version, Prometheus down, no
metrics from the stable pods, a model served without a reference profile. Only the stable track's
version is judged: its pods are the ones whose reference profile the live buckets share, and a canary's
traffic is a slice of the same requests (the rollout judges the canary; drift is about the inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ferryman.api import DriftMonitor
from ferryman.api.base import MAX_TEXT
from ferryman.api.vocabulary import ACTIVE_PHASES, format_timestamp
from ferryman.builders.status import ConditionStatus, condition, with_other_conditions, within_limit
from ferryman.drift.rules import (
    ACCURACY,
    FeatureVerdict,
    Thresholds,
    confirmed_features,
    judge_accuracy,
    judge_features,
)
from ferryman.drift.window import PREDICTION, DriftWindow, unknown_features


@dataclass(frozen=True)
class DriftObservation:
    """What the handler read this interval."""

    model_deployment: dict[str, Any] | None
    window: DriftWindow | None = None
    error: str | None = None  # Prometheus could not be asked


METRICS_UNAVAILABLE = "MetricsUnavailable"


@dataclass(frozen=True)
class Assessment:
    phase: str
    ready: ConditionStatus
    reason: str
    message: str
    verdicts: list[FeatureVerdict] = field(default_factory=list)
    drifted_features: list[str] = field(default_factory=list)
    version: str | None = None  # the stable version judged
    judged: bool = False  # this window had the samples to judge; only then may drift start a retrain

    @property
    def metrics_read(self) -> bool:
        """False when Prometheus could not be asked: this interval says nothing about drift, so what was
        confirmed before (driftedFeatures, the Drifted condition, the drift gauges) stands."""
        return self.reason != METRICS_UNAVAILABLE


def stable_version(md: dict[str, Any] | None) -> str | None:
    return ((md or {}).get("status") or {}).get("stableVersion") or None


def rollout_active(md: dict[str, Any] | None) -> bool:
    return ((md or {}).get("status") or {}).get("phase") in ACTIVE_PHASES


def thresholds_of(dm: DriftMonitor) -> Thresholds:
    tests = dm.spec.tests
    return Thresholds(psi=tests.psi, js=tests.js, p_value=tests.p_value)


def assess(dm: DriftMonitor, observation: DriftObservation, previous: dict[str, Any]) -> Assessment:
    """Phase, Ready condition and per-feature verdicts of this interval."""
    ref = dm.spec.model_deployment_ref.name
    md = observation.model_deployment
    if md is None:
        message = f"spec.modelDeploymentRef.name: ModelDeployment {ref} not found in this namespace"
        return Assessment("Degraded", "False", "ModelDeploymentNotFound", message)
    version = stable_version(md)
    if version is None:
        return Assessment(
            "Pending", "False", "NoStableVersion", f"ModelDeployment {ref} serves no version yet"
        )
    if observation.error is not None:
        return Assessment(previous.get("phase") or "Pending", "False", METRICS_UNAVAILABLE, observation.error)
    window = observation.window or DriftWindow()
    if not window.pods_seen:
        message = (
            f"no metrics from the stable pods of {ref} (version {version}) in Prometheus: are they running "
            "and scraped (docs/metrics.md)?"
        )
        return Assessment("Pending", "False", "NoMetrics", message)
    if not window.profile_seen:
        message = (
            f"version {version} of {ref} is served without a reference profile (profile.json beside the "
            "model): there are no feature histograms to compare"
        )
        return Assessment("Degraded", "False", "ProfileMissing", message)
    return _judge(dm, window, previous, version)


def _judge(dm: DriftMonitor, window: DriftWindow, previous: dict[str, Any], version: str) -> Assessment:
    spec = dm.spec
    features = [f for f in window.features if spec.tests.prediction or f.name != PREDICTION]
    # Streaks are a version's: after a retrained version took over, its windows count from zero.
    same_version = previous.get("stableVersion") == version
    scores = (previous.get("featureScores") or []) if same_version else []
    streaks = {s.get("feature", ""): int(s.get("consecutive", 0)) for s in scores}
    verdicts = judge_features(
        features, window.reference_samples, thresholds_of(dm), spec.min_samples, spec.consecutive, streaks
    )
    samples = int(max((v.samples for v in verdicts), default=0))
    judges_features = bool(verdicts)
    unjudgeable_labels = spec.performance is not None and _labels_without_accuracy(window)
    if spec.performance is not None and not unjudgeable_labels:
        performance = spec.performance
        verdicts.append(judge_accuracy(window.correct or 0.0, window.labelled, performance.min_accuracy,
                                       performance.min_labels, streaks.get(ACCURACY, 0)))  # fmt: skip
    drifted = confirmed_features(verdicts, spec.consecutive)
    problems = _spec_problems(window, spec.features, unjudgeable_labels)
    # The rows judge the window (minSamples); a monitor of accuracy alone, with no feature series,
    # is judged once accuracy was scored (minLabels labelled rows).
    if not (samples >= spec.min_samples if judges_features else any(v.scored for v in verdicts)):
        if judges_features:
            message = f"{samples} samples of version {version} in the last {spec.window}"
            message += f"; minSamples: {spec.min_samples}"
        else:
            labels = spec.performance.min_labels if spec.performance else 0
            message = f"{int(window.labelled)} labelled rows of version {version} in the last {spec.window}"
            message += f"; minLabels: {labels}"
        if drifted:  # a quiet window neither confirms nor clears drift already confirmed in this version
            message = (
                "drift confirmed earlier stands in "
                + ", ".join(drifted)
                + f"; too few to judge again: {message}"
            )
        phase = "Drifted" if drifted else "Collecting"
        text = "; ".join([message, *problems])
        if problems:
            return Assessment(phase, "False", "FeatureProblems", text, verdicts, drifted, version)
        return Assessment(phase, "True", "NotEnoughSamples", text, verdicts, drifted, version)
    if drifted:
        message = "drift confirmed in " + ", ".join(_describe(v) for v in verdicts if v.name in drifted)
        phase = "Drifted"
    else:
        message, phase = (
            f"no drift in {len(verdicts)} series of version {version} over {spec.window}",
            "Healthy",
        )
    if problems:
        return Assessment(phase, "False", "FeatureProblems", "; ".join([message, *problems]), verdicts,
                          drifted, version, judged=True)  # fmt: skip
    return Assessment(phase, "True", "Judged", message, verdicts, drifted, version, judged=True)


def _spec_problems(window: DriftWindow, wanted: list[str] | None, unjudgeable_labels: bool) -> list[str]:
    problems = []
    unknown = unknown_features(window, wanted)
    if unknown:
        problems.append("spec.features: not in the reference profile: " + ", ".join(unknown))
    if window.mismatched:
        problems.append("live bucket edges differ from the profile's for " + ", ".join(window.mismatched))
    if unjudgeable_labels:
        problems.append(
            "spec.performance: the model's labelled rows have no correct-rows count (a regressor is "
            "scored by absolute error, which the monitor does not judge); remove spec.performance"
        )
    return problems


def _labels_without_accuracy(window: DriftWindow) -> bool:
    # Pods count correct rows only for classifiers. Reading a missing count as 0 correct declared a
    # regressor drifted at accuracy 0 (and retrained it every cooldown).
    return window.labelled > 0 and window.correct is None


def _describe(verdict: FeatureVerdict) -> str:
    scores = []
    if verdict.psi is not None:
        scores.append(f"psi {verdict.psi:.3f}")
    if verdict.js is not None:
        scores.append(f"js {verdict.js:.3f}")
    if verdict.p_value is not None:
        scores.append(f"p {verdict.p_value:.2g}")
    if verdict.accuracy is not None:
        scores.append(f"accuracy {verdict.accuracy:.3f} of {int(verdict.samples)} labels")
    scores.append(f"{verdict.consecutive} windows")  # alone when this window had too few samples to score
    return f"{verdict.name} ({', '.join(scores)})"


def describe_scores(verdicts: list[FeatureVerdict], names: list[str]) -> str:
    """`amount (psi 0.310, js 0.140, 2 windows); age (...)`: the features and what they scored."""
    return "; ".join(_describe(v) for v in verdicts if v.name in names)


def _score(verdict: FeatureVerdict) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "feature": verdict.name,
        "samples": int(verdict.samples),
        "drifted": verdict.drifted,
        "consecutive": verdict.consecutive,
    }
    scores = (
        ("psi", verdict.psi),
        ("js", verdict.js),
        ("pValue", verdict.p_value),
        ("accuracy", verdict.accuracy),
    )
    for key, value in scores:
        if value is not None:
            entry[key] = round(value, 6) if key != "pValue" else float(f"{value:.4g}")
    return entry


def drift_status(
    dm: DriftMonitor, assessment: Assessment, previous: dict[str, Any], now: datetime, phase: str
) -> dict[str, Any]:
    """The status to write: scores, drifted features, phase, Ready and Drifted conditions."""
    prior = previous.get("conditions") or []
    generation = dm.metadata.generation
    conditions = [condition("Ready", assessment.ready, assessment.reason, assessment.message,
                            now=now, previous=prior, generation=generation)]  # fmt: skip
    if assessment.metrics_read:  # else the previous Drifted condition stays: with_other_conditions keeps it
        drifted = assessment.drifted_features
        status: ConditionStatus = "True" if drifted else "False"
        reason = "DriftConfirmed" if drifted else "NoDrift"
        summary = describe_scores(assessment.verdicts, drifted) or "no confirmed drift"
        conditions.append(condition("Drifted", status, reason, summary,
                                    now=now, previous=prior, generation=generation))  # fmt: skip
    desired: dict[str, Any] = {
        "phase": phase,
        "message": within_limit(assessment.message, MAX_TEXT),
        "conditions": with_other_conditions(conditions, prior),
        "observedGeneration": generation,
        "lastCheckTime": format_timestamp(now),
    }
    if assessment.metrics_read:
        desired["driftedFeatures"] = assessment.drifted_features
        desired["featureScores"] = [_score(v) for v in assessment.verdicts]
    if assessment.version is not None:
        desired["stableVersion"] = assessment.version
    return desired
