"""When a score counts as drift, when drift is confirmed, and when a retrain may start: pure decisions.

A feature drifts in a window when any enabled score crosses its threshold: PSI or Jensen-Shannon above
theirs (effect sizes: how different, with the part that sampling noise alone explains removed, so a
small window does not look drifted by its noise), or the G-test's p-value below `pValue` divided by the
number of series tested (Bonferroni: with 20 features tested at once, the chance that any of them
fires by luck stays at pValue). Drift is confirmed after `consecutive` drifting windows in a row; a
window without enough samples is not judged and leaves the count where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ferryman.drift.statistics import debiased_js_distance, debiased_psi, g_test


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A score set to None is neither computed nor judged."""

    psi: float | None = 0.2
    js: float | None = 0.1
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class BinnedFeature:
    """One series (a feature, or the prediction) over one window: live counts and the reference."""

    name: str
    live_counts: tuple[float, ...]
    reference_proportions: tuple[float, ...]

    @property
    def samples(self) -> float:
        return float(sum(self.live_counts))


@dataclass(frozen=True, slots=True)
class FeatureVerdict:
    name: str
    samples: float
    psi: float | None
    js: float | None
    p_value: float | None
    drifted: bool
    consecutive: int
    accuracy: float | None = None

    @property
    def scored(self) -> bool:
        """This window had the rows (or labels) to score the series; else its streak only carried over."""
        return any(v is not None for v in (self.psi, self.js, self.p_value, self.accuracy))


ACCURACY = "accuracy"


def judge_accuracy(
    correct: float, labelled: float, min_accuracy: float, min_labels: int, previous_streak: int
) -> FeatureVerdict:
    """The "accuracy" series: drifts while accuracy over the window is below min_accuracy; fewer than
    min_labels labelled rows judge nothing and keep the streak (like minSamples for features)."""
    if labelled < min_labels or labelled <= 0:
        return FeatureVerdict(ACCURACY, labelled, None, None, None, False, previous_streak)
    accuracy = min(max(correct / labelled, 0.0), 1.0)
    drifted = accuracy < min_accuracy
    streak = next_streak(previous_streak, True, drifted)
    return FeatureVerdict(ACCURACY, labelled, None, None, None, drifted, streak, accuracy)


def score_feature(
    feature: BinnedFeature, reference_samples: float, thresholds: Thresholds, series_tested: int
) -> tuple[float | None, float | None, float | None, bool]:
    """(psi, js, p-value, drifted) of one series with enough samples."""
    live, reference = feature.live_counts, feature.reference_proportions
    psi_value = debiased_psi(live, reference, reference_samples) if thresholds.psi is not None else None
    js_value = debiased_js_distance(live, reference, reference_samples) if thresholds.js is not None else None
    p_value = None
    if thresholds.p_value is not None:
        p_value = g_test(feature.live_counts, feature.reference_proportions, reference_samples).p_value
    drifted = (
        (psi_value is not None and thresholds.psi is not None and psi_value > thresholds.psi)
        or (js_value is not None and thresholds.js is not None and js_value > thresholds.js)
        or (
            p_value is not None
            and thresholds.p_value is not None
            and p_value < thresholds.p_value / max(series_tested, 1)
        )
    )
    return psi_value, js_value, p_value, drifted


def next_streak(previous: int, judged: bool, drifted: bool) -> int:
    """Drifting windows in a row: +1 on drift, 0 on a clean window, unchanged when not judged."""
    if not judged:
        return previous
    return previous + 1 if drifted else 0


def confirmed(streak: int, consecutive: int) -> bool:
    return streak >= consecutive


def judge_features(
    features: list[BinnedFeature],
    reference_samples: float,
    thresholds: Thresholds,
    min_samples: int,
    consecutive: int,
    previous_streaks: Mapping[str, int],
) -> list[FeatureVerdict]:
    """Every series' scores and streak; series under min_samples keep their streak and get no scores."""
    tested = [f for f in features if f.samples >= min_samples]
    verdicts = []
    for feature in features:
        before = previous_streaks.get(feature.name, 0)
        if feature.samples < min_samples:
            verdicts.append(FeatureVerdict(feature.name, feature.samples, None, None, None, False, before))
            continue
        psi_value, js_value, p_value, drifted = score_feature(
            feature, reference_samples, thresholds, len(tested)
        )
        streak = next_streak(before, True, drifted)
        verdicts.append(
            FeatureVerdict(feature.name, feature.samples, psi_value, js_value, p_value, drifted, streak)
        )
    return verdicts


def confirmed_features(verdicts: list[FeatureVerdict], consecutive: int) -> list[str]:
    return [v.name for v in verdicts if confirmed(v.consecutive, consecutive)]


@dataclass(frozen=True, slots=True)
class RetrainContext:
    """What the retrain decision depends on, read by the handler."""

    drifted_features: tuple[str, ...]
    retrain_configured: bool
    last_retrain_at: datetime | None
    cooldown: timedelta
    retrain_running: str | None  # name of this monitor's TrainingJob that has not finished, if any
    rollout_active: bool


@dataclass(frozen=True, slots=True)
class RetrainDecision:
    start: bool
    reason: str


def decide_retrain(context: RetrainContext, now: datetime) -> RetrainDecision:
    """Start a TrainingJob only for confirmed drift, with a retrain configured, after the cooldown, while
    no retrain of this monitor runs and the ModelDeployment is not mid-rollout (the new model would race
    the rollout in flight, and drift measured during a canary mixes two versions' predictions)."""
    if not context.drifted_features:
        return RetrainDecision(False, "no confirmed drift")
    if not context.retrain_configured:
        return RetrainDecision(False, "spec.onDrift.retrain is not set: drift is only reported")
    if context.retrain_running is not None:
        return RetrainDecision(
            False, f"TrainingJob {context.retrain_running} of this monitor is still running"
        )
    if context.rollout_active:
        return RetrainDecision(False, "the ModelDeployment is mid-rollout; retrain waits for it to finish")
    if context.last_retrain_at is not None:
        ready_at = context.last_retrain_at + context.cooldown
        if now < ready_at:
            return RetrainDecision(
                False,
                f"spec.onDrift.cooldown: last retrain at {context.last_retrain_at.isoformat()}, "
                f"next allowed at {ready_at.isoformat()}",
            )
    return RetrainDecision(True, "drift confirmed in " + ", ".join(context.drifted_features))
