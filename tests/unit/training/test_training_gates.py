"""Gates are judged from the numbers the run logged, against the spec's bounds."""

from __future__ import annotations

import json

import pytest

from ferryman.api.trainingjob import ChampionGate, ValidationSpec
from ferryman.builders.training_gates import NO_CHAMPION, judge_champion, judge_gates

pytestmark = pytest.mark.unit


def spec(**fields: object) -> ValidationSpec:
    return ValidationSpec.model_validate(fields)


def test_a_data_check_within_bounds_passes_and_outside_fails_with_the_numbers() -> None:
    validation = spec(data=[{"name": "rows", "check": "rowCount", "min": 100, "max": 1000}])
    (ok,) = judge_gates(validation, {"data_check.rows": 500.0}).gates
    assert ok.passed and ok.value == 500.0 and ok.name == "data:rows"
    (low,) = judge_gates(validation, {"data_check.rows": 99.0}).gates
    assert not low.passed
    assert low.message == "99 not within [100, 1000]"
    (high,) = judge_gates(validation, {"data_check.rows": 1001.0}).gates
    assert not high.passed


def test_a_data_check_the_run_did_not_log_fails_naming_the_metric() -> None:
    validation = spec(data=[{"name": "nulls", "check": "nullFraction", "column": "amount", "max": 0.1}])
    verdict = judge_gates(validation, {"auc": 0.9})
    (gate,) = verdict.gates
    assert not gate.passed and gate.value is None
    assert gate.message == "metric data_check.nulls not logged by the run (needs <= 0.1)"
    assert not verdict.passed


def test_metric_gates_check_min_and_max() -> None:
    validation = spec(metrics=[{"name": "auc", "min": 0.8}, {"name": "serving_p99_ms", "max": 50}])
    verdict = judge_gates(validation, {"auc": 0.85, "serving_p99_ms": 51.0})
    auc, latency = verdict.gates
    assert auc.passed and auc.message == "0.85 >= 0.8"
    assert not latency.passed and latency.message == "51 not <= 50"
    assert verdict.summary() == "1 of 2 gates failed: metric:serving_p99_ms: 51 not <= 50"


def test_a_missing_metric_fails_its_gate() -> None:
    (gate,) = judge_gates(spec(metrics=[{"name": "auc", "min": 0.8}]), {}).gates
    assert not gate.passed and "metric auc not logged" in (gate.message or "")


def test_no_champion_logged_passes_with_a_message() -> None:
    gate = judge_champion(ChampionGate(metric="auc"), {"auc": 0.7})
    assert gate.passed and gate.message == NO_CHAMPION == "no champion to beat"


def test_no_champion_logged_beside_a_champion_fails_naming_the_fix() -> None:
    """The alias names a version but the run logged no champion value: it was never compared."""
    gate = judge_champion(ChampionGate(metric="auc"), {"auc": 0.99}, champion_version="4")
    assert not gate.passed and gate.value == 0.99
    assert gate.message is not None
    assert gate.message.startswith("the promote alias names version 4, but the run logged no champion.auc")
    assert "evaluate_champion" in gate.message


def test_a_challenger_must_beat_the_champion_by_min_delta_when_greater_is_better() -> None:
    gate = ChampionGate(metric="auc", minDelta=0.01)
    better = judge_champion(gate, {"auc": 0.92, "champion.auc": 0.90})
    assert better.passed
    assert better.message == "auc 0.92 beats champion 0.9 (needs >= 0.91, minDelta 0.01)"
    within_delta = judge_champion(gate, {"auc": 0.905, "champion.auc": 0.90})
    assert not within_delta.passed
    worse = judge_champion(gate, {"auc": 0.80, "champion.auc": 0.90})
    assert not worse.passed
    assert worse.message == "auc 0.8 does not beat champion 0.9 (needs >= 0.91, minDelta 0.01)"


def test_for_a_loss_lower_beats_the_champion() -> None:
    gate = ChampionGate(metric="rmse", minDelta=0.5, greaterIsBetter=False)
    assert judge_champion(gate, {"rmse": 9.0, "champion.rmse": 10.0}).passed
    assert not judge_champion(gate, {"rmse": 9.8, "champion.rmse": 10.0}).passed
    assert not judge_champion(gate, {"rmse": 11.0, "champion.rmse": 10.0}).passed


def test_a_champion_scored_nan_fails_the_gate_with_the_way_out() -> None:
    """Before: "auc 0.99 does not beat champion nan", for every challenger, for good."""
    gate = judge_champion(ChampionGate(metric="auc"), {"auc": 0.99, "champion.auc": float("nan")})
    assert not gate.passed
    assert gate.message is not None and gate.message.startswith("champion auc is nan on this run's holdout")
    assert "move the promote alias to a version that scores, or drop mustBeatChampion" in gate.message


def test_a_champion_gate_without_the_challengers_metric_fails() -> None:
    gate = judge_champion(ChampionGate(metric="auc"), {"champion.auc": 0.9})
    assert not gate.passed and gate.message == "metric auc not logged by the run"


def test_serving_valid_is_a_gate_when_logged() -> None:
    assert judge_gates(spec(), {}).gates == []
    (valid,) = judge_gates(spec(), {"serving_valid": 1.0}).gates
    assert valid.passed
    (invalid,) = judge_gates(spec(), {"serving_valid": 0.0}).gates
    assert not invalid.passed


def test_a_serving_valid_logged_as_nan_fails_and_keeps_the_status_valid_json() -> None:
    """Logged by hand as NaN, it went into status.gates as NaN: json.dumps wrote NaN, not JSON, and the
    API server refused the status write on every retry (the TrainingJob stayed Validating)."""
    (gate,) = judge_gates(spec(), {"serving_valid": float("nan")}).gates
    assert not gate.passed and gate.value is None
    json.dumps(gate.model_dump(mode="json"), allow_nan=False)


def test_the_verdict_passes_only_when_every_gate_did() -> None:
    validation = spec(
        data=[{"name": "rows", "check": "rowCount", "min": 10}],
        metrics=[{"name": "auc", "min": 0.8}],
        mustBeatChampion={"metric": "auc"},
    )
    good = {"data_check.rows": 50.0, "auc": 0.9, "champion.auc": 0.85}
    verdict = judge_gates(validation, good)
    assert verdict.passed and verdict.summary() == "all 3 gates passed"
    assert [g.name for g in verdict.gates] == ["data:rows", "metric:auc", "champion:auc"]
    assert not judge_gates(validation, {**good, "champion.auc": 0.95}).passed


@pytest.mark.parametrize(
    ("gates", "metrics"),
    [
        ({"metrics": [{"name": "auc", "min": 0.8}]}, {"auc": float("inf")}),
        ({"metrics": [{"name": "rmse", "max": 5}]}, {"rmse": float("-inf")}),
        ({"metrics": [{"name": "auc", "min": 0.8}]}, {"auc": float("nan")}),
        ({"data": [{"name": "rows", "check": "rowCount", "min": 100}]}, {"data_check.rows": float("inf")}),
    ],
)
def test_a_value_that_is_not_finite_fails_its_gate(
    gates: dict[str, object], metrics: dict[str, float]
) -> None:
    """inf passed a min bound and -inf a max one: a run whose loss diverged was promoted."""
    verdict = judge_gates(spec(**gates), metrics)
    assert not verdict.passed and "not a number that can pass" in verdict.summary()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_challenger_scored_nan_is_not_promoted_even_without_a_champion(value: float) -> None:
    """With no champion a NaN challenger passed, became the champion, and then failed every later run."""
    gate = judge_champion(ChampionGate(metric="auc"), {"auc": value})
    assert not gate.passed and gate.message == f"metric auc is {value:g}: not promoted"


def test_a_champion_at_infinity_is_named_like_a_nan_one() -> None:
    gate = judge_champion(
        ChampionGate(metric="loss", greater_is_better=False), {"loss": 0.2, "champion.loss": -1e999}
    )
    assert not gate.passed and gate.message is not None and gate.message.startswith("champion loss is -inf")
