"""The gates of a TrainingJob, judged from what the MLflow server holds for its run: pure.

The trainer logs what it measured (data_check.<name>, the metrics, champion.<metric>, serving_valid);
the operator compares those numbers with the spec's bounds itself, so a trainer that says "passed" but
logged a value out of bounds is still rejected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ferryman.api import GateResult
from ferryman.api import training_contract as contract
from ferryman.api.trainingjob import ChampionGate, DataCheck, MetricGate, ValidationSpec

NO_CHAMPION = "no champion to beat"


@dataclass(frozen=True)
class Verdict:
    """Every gate's outcome; passed only when each one did."""

    gates: list[GateResult]

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    def summary(self) -> str:
        """The failed gates' messages, or a line saying all passed."""
        failed = [f"{gate.name}: {gate.message}" for gate in self.gates if not gate.passed]
        if not failed:
            return f"all {len(self.gates)} gates passed"
        return f"{len(failed)} of {len(self.gates)} gates failed: " + "; ".join(failed)


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"within [{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def _within(name: str, value: float | None, low: float | None, high: float | None, what: str) -> GateResult:
    """value against [low, high]; a missing value fails and says which name the run did not log."""
    wanted = _bounds_text(low, high)
    if value is None:
        return GateResult(name=name, passed=False, message=f"{what} not logged by the run (needs {wanted})")
    if not math.isfinite(value):
        # inf passed a min bound and -inf a max one: a diverged run would have been promoted.
        return GateResult(name=name, passed=False, message=f"{what} is {value:g}, not a number that can pass")
    ok = (low is None or value >= low) and (high is None or value <= high)
    return GateResult(name=name, passed=ok, value=value, message=f"{value:g} {'' if ok else 'not '}{wanted}")


def judge_data_check(check: DataCheck, metrics: Mapping[str, float]) -> GateResult:
    key = f"{contract.DATA_CHECK_METRIC_PREFIX}{check.name}"
    result = _within(f"data:{check.name}", metrics.get(key), check.min, check.max, f"metric {key}")
    return result


def judge_metric_gate(gate: MetricGate, metrics: Mapping[str, float]) -> GateResult:
    return _within(f"metric:{gate.name}", metrics.get(gate.name), gate.min, gate.max, f"metric {gate.name}")


def judge_champion(
    gate: ChampionGate, metrics: Mapping[str, float], champion_version: str | None = None
) -> GateResult:
    """The challenger must beat the champion's value on the same holdout by min_delta, in gate's direction.

    `champion_version`: the version the promote alias names now. Beside one, a run without a champion
    value has not been compared with it and does not pass (the gate is the registry's word, not the
    trainer's).
    """
    name = f"champion:{gate.metric}"
    challenger = metrics.get(gate.metric)
    champion = metrics.get(f"{contract.CHAMPION_METRIC_PREFIX}{gate.metric}")
    if challenger is None:
        return GateResult(name=name, passed=False, message=f"metric {gate.metric} not logged by the run")
    if not math.isfinite(challenger):
        # A NaN challenger with no champion used to pass and become the champion no one could beat.
        return GateResult(
            name=name, passed=False, message=f"metric {gate.metric} is {challenger:g}: not promoted"
        )
    if champion is None and champion_version is not None:
        message = (
            f"the promote alias names version {champion_version}, but the run logged no "
            f"{contract.CHAMPION_METRIC_PREFIX}{gate.metric}: evaluate the champion in the trainer "
            f"(ferryman.train.evaluate_champion, docs/training.md) so it is compared on the same holdout"
        )
        return GateResult(name=name, passed=False, value=challenger, message=message)
    if champion is None:
        return GateResult(name=name, passed=True, value=challenger, message=NO_CHAMPION)
    if not math.isfinite(champion):
        # Nothing compares with NaN (or beats inf): every later challenger would "not beat" it, for good.
        message = (
            f"champion {gate.metric} is {champion:g} on this run's holdout, so no challenger can be compared "
            "with it: move the promote alias to a version that scores, or drop mustBeatChampion"
        )
        return GateResult(name=name, passed=False, value=challenger, message=message)
    if gate.greater_is_better:
        ok, needed, sign = challenger >= champion + gate.min_delta, champion + gate.min_delta, ">="
    else:
        ok, needed, sign = challenger <= champion - gate.min_delta, champion - gate.min_delta, "<="
    verb = "beats" if ok else "does not beat"
    message = (
        f"{gate.metric} {challenger:g} {verb} champion {champion:g} "
        f"(needs {sign} {needed:g}, minDelta {gate.min_delta:g})"
    )
    return GateResult(name=name, passed=ok, value=challenger, message=message)


def judge_serving(metrics: Mapping[str, float]) -> GateResult | None:
    """serving_valid, when the trainer ran the candidate through the serving data plane."""
    value = metrics.get(contract.SERVING_VALID)
    if value is None:
        return None
    ok = value == 1.0
    text = "every serving answer well formed" if ok else "the serving data plane gave malformed answers"
    # A NaN logged by hand would make the status write invalid JSON, refused on every retry.
    return GateResult(name="serving:valid", passed=ok, value=value if math.isfinite(value) else None,
                      message=text)  # fmt: skip


def judge_gates(
    validation: ValidationSpec, metrics: Mapping[str, float], champion_version: str | None = None
) -> Verdict:
    """Data checks, metric gates, the champion comparison and the serving check, in that order."""
    gates: list[GateResult] = [judge_data_check(check, metrics) for check in validation.data]
    gates += [judge_metric_gate(gate, metrics) for gate in validation.metrics]
    if validation.must_beat_champion is not None:
        gates.append(judge_champion(validation.must_beat_champion, metrics, champion_version))
    serving = judge_serving(metrics)
    if serving is not None:
        gates.append(serving)
    return Verdict(gates=gates)


def gates_json(gates: Sequence[GateResult]) -> list[dict[str, object]]:
    return [gate.model_dump(by_alias=True, exclude_none=True, mode="json") for gate in gates]
