"""A monitor's interval as the person at the terminal sees it: phase, Ready, scores; and its retrains."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ferryman.api import DriftMonitor, DriftMonitorStatus
from ferryman.builders.drift_retrain import build_retrain_training_job, retrain_name, retrain_number
from ferryman.builders.drift_status import DriftObservation, assess, drift_status
from ferryman.drift.rules import BinnedFeature
from ferryman.drift.window import DriftWindow, window_from_series

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MD = {"metadata": {"name": "fraud"}, "status": {"phase": "Succeeded", "stableVersion": "3"}}
SAME = BinnedFeature("amount", (100.0,) * 5, (0.2,) * 5)
MOVED = BinnedFeature("amount", (300.0, 100.0, 50.0, 30.0, 20.0), (0.2,) * 5)


def monitor(**spec: Any) -> DriftMonitor:
    body = {
        "apiVersion": "ferryman.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": "fraud-drift-watch", "namespace": "ml", "uid": "u-1", "generation": 2},
        "spec": {"modelDeploymentRef": {"name": "fraud"}, "minSamples": 100, "consecutive": 2, **spec},
    }
    return DriftMonitor.model_validate(body)


def window(*features: BinnedFeature) -> DriftWindow:
    return DriftWindow(list(features), 5000.0, pods_seen=True, profile_seen=True)


def test_missing_model_deployment_is_degraded_and_named() -> None:
    result = assess(monitor(), DriftObservation(None), {})
    assert (result.phase, result.ready, result.reason) == ("Degraded", "False", "ModelDeploymentNotFound")
    assert "spec.modelDeploymentRef.name" in result.message and "fraud" in result.message


def test_no_metrics_and_no_profile_are_told_apart() -> None:
    nothing = assess(monitor(), DriftObservation(MD, DriftWindow()), {})
    assert (nothing.phase, nothing.reason) == ("Pending", "NoMetrics")
    no_profile = assess(monitor(), DriftObservation(MD, DriftWindow(pods_seen=True)), {})
    assert (no_profile.phase, no_profile.reason) == ("Degraded", "ProfileMissing")


def test_prometheus_down_keeps_the_phase_and_says_why() -> None:
    result = assess(
        monitor(), DriftObservation(MD, error="Prometheus query failed: ConnectError"), {"phase": "Healthy"}
    )
    assert (result.phase, result.reason) == ("Healthy", "MetricsUnavailable")


def test_prometheus_down_leaves_confirmed_drift_standing() -> None:
    """A query that failed says nothing about drift. Before, the status said driftedFeatures [] and
    Drifted False ("no confirmed drift") while the phase stayed Drifted, and the drift gauges went away,
    which resolved the ModelInputDrift alert for as long as Prometheus did not answer."""
    first = assess(monitor(), DriftObservation(MD, window(MOVED)), {})
    drifted = drift_status(monitor(), first, {}, NOW, first.phase)
    second = assess(monitor(), DriftObservation(MD, window(MOVED)), drifted)
    drifted = drift_status(monitor(), second, drifted, NOW, second.phase)
    down = assess(monitor(), DriftObservation(MD, error="Prometheus query failed: ConnectError"), drifted)
    assert not down.metrics_read
    written = drift_status(monitor(), down, drifted, NOW, down.phase)
    assert (
        written["phase"] == "Drifted" and "driftedFeatures" not in written and "featureScores" not in written
    )
    conditions = {c["type"]: c for c in written["conditions"]}
    assert conditions["Drifted"] == next(c for c in drifted["conditions"] if c["type"] == "Drifted")
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "MetricsUnavailable")


def test_too_few_samples_is_collecting() -> None:
    few = BinnedFeature("amount", (10.0,) * 5, (0.2,) * 5)
    result = assess(monitor(), DriftObservation(MD, window(few)), {})
    assert (
        result.phase == "Collecting"
        and "50 samples" in result.message
        and "minSamples: 100" in result.message
    )
    assert (result.ready, result.reason) == ("True", "NotEnoughSamples")  # as docs/drift.md says


def test_drift_needs_the_consecutive_windows_then_reports_scores() -> None:
    first = assess(monitor(), DriftObservation(MD, window(MOVED)), {})
    assert first.phase == "Healthy" and first.drifted_features == []
    status = drift_status(monitor(), first, {}, NOW, first.phase)
    second = assess(monitor(), DriftObservation(MD, window(MOVED)), status)
    assert second.phase == "Drifted" and second.drifted_features == ["amount"]
    written = drift_status(monitor(), second, status, NOW, second.phase)
    assert written["featureScores"][0]["consecutive"] == 2
    assert written["featureScores"][0]["psi"] > 0.2
    drifted = next(c for c in written["conditions"] if c["type"] == "Drifted")
    assert drifted["status"] == "True" and "amount (psi" in drifted["message"]


def test_unknown_features_in_the_spec_are_named_while_the_rest_is_judged() -> None:
    result = assess(monitor(features=["amount", "age"]), DriftObservation(MD, window(SAME)), {})
    assert result.phase == "Healthy" and result.ready == "False"
    assert "spec.features: not in the reference profile: age" in result.message


def test_spec_problems_name_their_reason_while_collecting_too() -> None:
    """Ready False is always FeatureProblems, also in a window with too few rows to judge."""
    few = BinnedFeature("amount", (10.0,) * 5, (0.2,) * 5)
    result = assess(monitor(features=["amount", "ammount"]), DriftObservation(MD, window(few)), {})
    assert (result.phase, result.ready, result.reason) == ("Collecting", "False", "FeatureProblems")
    assert "spec.features: not in the reference profile: ammount" in result.message


def test_prediction_is_skipped_when_tests_prediction_is_off() -> None:
    prediction = BinnedFeature("prediction", MOVED.live_counts, MOVED.reference_proportions)
    result = assess(monitor(tests={"prediction": False}), DriftObservation(MD, window(SAME, prediction)), {})
    assert [v.name for v in result.verdicts] == ["amount"]


def test_retrain_names_count_up_per_monitor() -> None:
    assert retrain_number(None) == 1
    assert retrain_number("fraud-drift-watch-drift-4") == 5
    assert retrain_name("fraud-drift-watch", 5) == "fraud-drift-watch-drift-5"


def test_long_monitor_names_give_distinct_retrains_and_a_valid_label() -> None:
    """Before, names were cut at 40 characters, so two monitors differing after that shared their
    retrains (the second was refused as not owned), and a name over 63 characters was put in the label
    as it is (every retrain refused by the API server)."""
    west1, west4 = (f"fraud-detection-model-inputs-watch-europe-west{n}" for n in (1, 4))
    assert retrain_name(west1, 1) != retrain_name(west4, 1)
    assert len(retrain_name(west1, 1)) <= 40 + len("-drift-1") and retrain_name(west1, 1).endswith("-drift-1")
    assert retrain_number(retrain_name(west1, 7)) == 8
    mlflow = {"trackingUri": "http://m:5000", "experiment": "e", "registeredModel": "f"}
    template = {
        "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "i:1"}]}}, "mlflow": mlflow}
    }
    dm = monitor(onDrift={"retrain": {"trainingJobTemplate": template}})
    dm.metadata.name = "m" * 100
    label = build_retrain_training_job(dm, "x-drift-1", ["a"], "")["metadata"]["labels"][
        "ferryman.dev/drift-monitor"
    ]
    assert len(label) <= 63 and label.startswith("m" * 40)


def test_retrain_training_job_is_owned_and_annotated() -> None:
    template = {
        "metadata": {"labels": {"team": "risk"}},
        "spec": {
            "template": {"spec": {"containers": [{"name": "t", "image": "i:1", "command": ["train"]}]}},
            "mlflow": {"trackingUri": "http://mlflow:5000", "experiment": "e", "registeredModel": "fraud"},
        },
    }
    dm = monitor(onDrift={"retrain": {"trainingJobTemplate": template}, "cooldown": "1h"})
    job = build_retrain_training_job(dm, "fraud-drift-watch-drift-1", ["amount"], "amount (psi 0.310)")
    assert job["kind"] == "TrainingJob" and job["metadata"]["namespace"] == "ml"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert job["metadata"]["labels"]["team"] == "risk"
    assert job["metadata"]["labels"]["ferryman.dev/drift-monitor"] == "fraud-drift-watch"
    assert job["metadata"]["annotations"]["ferryman.dev/drifted-features"] == "amount"
    assert job["metadata"]["annotations"]["ferryman.dev/drift-scores"] == "amount (psi 0.310)"
    assert job["spec"]["mlflow"]["registeredModel"] == "fraud"


def test_low_accuracy_from_delayed_labels_is_drift_named_accuracy() -> None:
    """spec.performance: accuracy 0.8 over 200 labels, twice, confirms drift in the series "accuracy"."""
    dm = monitor(performance={"minAccuracy": 0.9, "minLabels": 100})
    labelled = DriftWindow([SAME], 5000.0, pods_seen=True, profile_seen=True, labelled=200.0, correct=160.0)
    first = assess(dm, DriftObservation(MD, labelled), {})
    status = drift_status(dm, first, {}, NOW, first.phase)
    second = assess(dm, DriftObservation(MD, labelled), status)
    assert second.phase == "Drifted" and second.drifted_features == ["accuracy"]
    assert "accuracy (accuracy 0.800 of 200 labels" in second.message
    scores = drift_status(dm, second, status, NOW, second.phase)["featureScores"]
    assert next(s for s in scores if s["feature"] == "accuracy")["accuracy"] == 0.8


def test_a_monitor_of_accuracy_alone_is_judged_by_its_labels() -> None:
    """No feature series (features [], prediction off): minLabels, not minSamples, judges the window.

    Before, the samples were counted from feature series only, so such a monitor stayed Collecting
    with "0 samples" and never retrained.
    """
    dm = monitor(features=[], tests={"prediction": False}, performance={"minAccuracy": 0.9, "minLabels": 100})
    few = DriftWindow([], 5000.0, pods_seen=True, profile_seen=True, labelled=50.0, correct=40.0)
    waiting = assess(dm, DriftObservation(MD, few), {})
    assert (waiting.phase, waiting.reason, waiting.judged) == ("Collecting", "NotEnoughSamples", False)
    assert waiting.message.startswith("50 labelled rows of version 3") and "minLabels: 100" in waiting.message
    labelled = replace(few, labelled=200.0, correct=160.0)
    first = assess(dm, DriftObservation(MD, labelled), {})
    assert (first.phase, first.reason, first.judged) == ("Healthy", "Judged", True)
    second = assess(dm, DriftObservation(MD, labelled), drift_status(dm, first, {}, NOW, first.phase))
    assert second.judged and second.drifted_features == ["accuracy"]


def test_a_regressors_labels_are_not_judged_as_accuracy_zero() -> None:
    """Pods count correct rows only for classifiers; a regressor's labelled rows come without them.

    Before, the missing count read as 0 correct: "drift confirmed in accuracy (accuracy 0.000 of 500
    labels)", and a retrain every cooldown. Now the labels judge nothing and Ready names the fix.
    """
    dm = monitor(performance={"minAccuracy": 0.9, "minLabels": 100})
    series = [({"source": "labelled"}, 500.0), ({"source": "ready"}, 1.0)]
    series += [({"source": "reference", "feature": "amount", "le": le}, 0.5) for le in ("0", "+Inf")]
    series += [
        ({"source": "live", "feature": "amount", "le": le}, n) for le, n in (("0", 300.0), ("+Inf", 600.0))
    ]
    labelled = window_from_series(series, None)
    first = assess(dm, DriftObservation(MD, labelled), {})
    second = assess(dm, DriftObservation(MD, labelled), drift_status(dm, first, {}, NOW, first.phase))
    assert second.phase == "Healthy" and second.drifted_features == []
    assert (second.ready, second.reason) == ("False", "FeatureProblems")
    assert "spec.performance: the model's labelled rows have no correct-rows count" in second.message


def test_hundreds_of_drifted_features_still_make_a_status_the_schema_takes() -> None:
    """A 768-feature model whose input pipeline broke: every feature drifts. The Drifted condition lists
    them; cut to the schema's limit, or the status write fails on every tick and nothing is reported."""
    features = [
        BinnedFeature(f"embedding_dimension_{i:04d}", MOVED.live_counts, MOVED.reference_proportions)
        for i in range(768)
    ]
    status = drift_status(monitor(), assess(monitor(), DriftObservation(MD, window(*features)), {}), {}, NOW,
                          "Healthy")  # fmt: skip
    judged = assess(monitor(), DriftObservation(MD, window(*features)), status)
    assert judged.phase == "Drifted" and len(judged.drifted_features) == 768
    written = drift_status(monitor(), judged, status, NOW, judged.phase)
    DriftMonitorStatus.model_validate(written)  # what the API server's schema would refuse, refused here
    drifted = next(c for c in written["conditions"] if c["type"] == "Drifted")
    assert drifted["message"].startswith("embedding_dimension_0000 (psi")
    assert " ... (cut: " in drifted["message"] and drifted["message"].endswith(" more characters)")


def _confirmed_drift() -> dict[str, Any]:
    """The status after two drifting windows of version 3."""
    status: dict[str, Any] = {}
    for _ in range(2):
        judged = assess(monitor(), DriftObservation(MD, window(MOVED)), status)
        status = drift_status(monitor(), judged, status, NOW, judged.phase)
    assert status["phase"] == "Drifted" and status["stableVersion"] == "3"
    return status


def test_a_quiet_window_after_confirmed_drift_keeps_it_without_a_new_retrain() -> None:
    """Night traffic below minSamples neither clears nor re-confirms the drift: the phase stayed Drifted
    (it flapped Drifted, Collecting, Drifted, with an Event each time), and it may not start a retrain."""
    few = BinnedFeature("amount", (30.0, 10.0, 5.0, 3.0, 2.0), (0.2,) * 5)
    quiet = assess(monitor(), DriftObservation(MD, window(few)), _confirmed_drift())
    assert (quiet.phase, quiet.reason, quiet.drifted_features) == ("Drifted", "NotEnoughSamples", ["amount"])
    assert not quiet.judged and "drift confirmed earlier stands in amount" in quiet.message
    written = drift_status(monitor(), quiet, _confirmed_drift(), NOW, quiet.phase)
    drifted = next(c for c in written["conditions"] if c["type"] == "Drifted")
    assert (drifted["status"], drifted["message"]) == ("True", "amount (2 windows)")


def test_a_new_stable_version_counts_its_drifting_windows_from_zero() -> None:
    """After a retrained version 4 took over, one drifting window of it is not yet confirmed drift: the
    old version's streak of 2 made it Drifted at once."""
    version_4 = {"metadata": {"name": "fraud"}, "status": {"phase": "Succeeded", "stableVersion": "4"}}
    first = assess(monitor(), DriftObservation(version_4, window(MOVED)), _confirmed_drift())
    assert (first.phase, first.drifted_features) == ("Healthy", [])
    assert first.verdicts[0].consecutive == 1
