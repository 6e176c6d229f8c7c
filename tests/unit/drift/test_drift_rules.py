"""The consecutive rule, minSamples, Bonferroni and the retrain decision (cooldown, running, rollout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ferryman.drift.rules import (
    BinnedFeature,
    RetrainContext,
    Thresholds,
    confirmed_features,
    decide_retrain,
    judge_accuracy,
    judge_features,
    next_streak,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SAME = BinnedFeature("same", (100.0, 100.0, 100.0, 100.0, 100.0), (0.2,) * 5)
MOVED = BinnedFeature("moved", (300.0, 100.0, 50.0, 30.0, 20.0), (0.2,) * 5)


def test_streak_counts_drifting_windows_and_resets_on_a_clean_one() -> None:
    assert next_streak(1, judged=True, drifted=True) == 2
    assert next_streak(3, judged=True, drifted=False) == 0


def test_window_without_enough_samples_keeps_the_streak() -> None:
    """Low traffic is no evidence either way: the streak neither grows nor resets."""
    assert next_streak(1, judged=False, drifted=False) == 1


def test_drift_is_confirmed_only_after_consecutive_windows() -> None:
    """consecutive: 2 — the first drifting window is not yet drift, the second is."""
    first = judge_features([SAME, MOVED], 1000, Thresholds(), 100, 2, {})
    assert [v.consecutive for v in first] == [0, 1]
    assert confirmed_features(first, 2) == []
    second = judge_features([SAME, MOVED], 1000, Thresholds(), 100, 2, {v.name: v.consecutive for v in first})
    assert confirmed_features(second, 2) == ["moved"]


def test_features_under_min_samples_get_no_scores() -> None:
    verdicts = judge_features([MOVED], 1000, Thresholds(), 10_000, 2, {"moved": 1})
    assert verdicts[0].psi is None and verdicts[0].js is None
    assert verdicts[0].consecutive == 1 and not verdicts[0].drifted


def test_p_value_threshold_is_divided_among_the_series_tested() -> None:
    """Bonferroni: p = 0.02 drifts when 2 series are tested at pValue 0.05, not when 3 are."""
    slightly = BinnedFeature("slightly", (124.0, 100.0, 100.0, 100.0, 76.0), (0.2,) * 5)
    thresholds = Thresholds(psi=None, js=None, p_value=0.05)
    two = judge_features([SAME, slightly], 1e9, thresholds, 1, 1, {})
    p = two[1].p_value
    assert p is not None and 0.05 / 3 < p < 0.05 / 2
    assert two[1].drifted
    three = judge_features(
        [SAME, slightly, BinnedFeature("other", SAME.live_counts, SAME.reference_proportions)],
        1e9,
        thresholds,
        1,
        1,
        {},
    )
    assert not three[1].drifted


def test_disabled_scores_are_not_computed() -> None:
    verdict = judge_features([MOVED], 1000, Thresholds(psi=None, js=0.1), 1, 1, {})[0]
    assert verdict.psi is None and verdict.js is not None and verdict.drifted


def context(**changes: object) -> RetrainContext:
    base = {
        "drifted_features": ("amount",),
        "retrain_configured": True,
        "last_retrain_at": None,
        "cooldown": timedelta(hours=6),
        "retrain_running": None,
        "rollout_active": False,
    }
    base.update(changes)
    return RetrainContext(**base)  # type: ignore[arg-type]


def test_confirmed_drift_with_retrain_configured_starts_a_retrain() -> None:
    decision = decide_retrain(context(), NOW)
    assert decision.start and "amount" in decision.reason


def test_no_retrain_without_confirmed_drift_or_without_a_template() -> None:
    assert not decide_retrain(context(drifted_features=()), NOW).start
    assert "onDrift.retrain" in decide_retrain(context(retrain_configured=False), NOW).reason


def test_cooldown_holds_the_next_retrain_until_it_has_passed() -> None:
    """Last retrain 5h59m ago with a 6h cooldown: wait; 6h ago: go."""
    early = decide_retrain(context(last_retrain_at=NOW - timedelta(hours=5, minutes=59)), NOW)
    assert not early.start and "cooldown" in early.reason
    assert decide_retrain(context(last_retrain_at=NOW - timedelta(hours=6)), NOW).start


def test_never_while_a_retrain_from_this_monitor_runs() -> None:
    """Even after the cooldown: one retrain at a time, so a failing retrain cannot loop."""
    decision = decide_retrain(
        context(retrain_running="fraud-drift-1", last_retrain_at=NOW - timedelta(days=1)), NOW
    )
    assert not decision.start and "fraud-drift-1" in decision.reason


def test_never_while_the_model_deployment_is_mid_rollout() -> None:
    decision = decide_retrain(context(rollout_active=True), NOW)
    assert not decision.start and "mid-rollout" in decision.reason


def test_accuracy_below_the_minimum_drifts_once_enough_labels_are_in() -> None:
    """85 of 100 labels right against minAccuracy 0.9: drifting; 50 labels under minLabels 100: no verdict."""
    low = judge_accuracy(85, 100, 0.9, 100, 0)
    assert low.drifted and low.accuracy == pytest.approx(0.85) and low.consecutive == 1
    assert not judge_accuracy(95, 100, 0.9, 100, 1).drifted
    few = judge_accuracy(10, 50, 0.9, 100, 1)
    assert few.accuracy is None and few.consecutive == 1 and not few.drifted
