"""Drift detection: how many samples each test needs, how often it cries wolf, and what it costs.

    .venv/bin/python bench/drift.py [--trials 200] [--windows 1200] [--quick]

1. Detection: 20 standard-normal features, a reference profile from 10,000 training rows (deciles, as
   the training SDK writes it). Live windows of n rows with feature 0's mean moved by 0.25, 0.5 or 1
   sigma (and 0: no shift, so that row is one feature's false-positive rate per window). For each n,
   the share of trials in which feature 0 is flagged by our PSI (> 0.2) and Jensen-Shannon distance
   (> 0.1) as the monitor reads them (sampling noise removed), our G-test (p < 0.001 / 21 series,
   Bonferroni) on the binned counts, and by the anchor: scipy.stats.ks_2samp on the raw rows against
   the 10,000 training rows, p < 0.05 (Evidently's per-column test for small samples). "n at 90%" =
   the smallest n tried where the feature is flagged in at least 90% of trials.
2. False alarms: stationary traffic judged the way the operator judges it: a rolling window of 10
   intervals (window 10m, interval 1m), the default rule (PSI 0.2, JS 0.1, minSamples 500,
   consecutive 2) over 20 features, for --windows intervals; an alarm is any feature confirmed. Also at
   5,000 rows per window, and with the G-test on. (The anchor KS at p < 0.05 per column is shown for
   comparison, per window with no consecutive rule, as Evidently reports it.)
3. Operator CPU per interval for 100 features x 50 ModelDeployments: decoding a Prometheus answer of that
   size (JSON) and turning it into verdicts (window_from_series + judge_features), per interval.
4. Serving: CPU per infer request of the in-process app with the feature and prediction histograms
   (model with profile.json) against the same model without a profile (histograms off), alternating.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from ferryman.drift.rules import BinnedFeature, Thresholds, confirmed_features, judge_features
from ferryman.drift.statistics import debiased_js_distance, debiased_psi, g_test
from ferryman.drift.window import window_from_series
from ferryman_serving.profile import bin_indices, build_profile

FEATURES = 20
SERIES = FEATURES + 1  # the monitor also tests the prediction: Bonferroni divides by 21
REFERENCE_ROWS = 10_000
P_VALUE = 0.001  # the value docs/drift.md recommends; the false-alarm table also shows 0.01
SIZES = (100, 200, 500, 1000, 2000, 5000, 10_000)
SHIFTS = (0.0, 0.25, 0.5, 1.0)  # 0.0: no drift, so the row is the test's false-positive rate


def reference() -> tuple[np.ndarray, list[float], list[float]]:
    rows = np.random.default_rng(0).standard_normal(REFERENCE_ROWS)
    profile = build_profile(rows.reshape(-1, 1))
    feature = profile.features[0]
    return rows, feature.edges, feature.proportions


def counts_of(values: np.ndarray, edges: list[float]) -> np.ndarray:
    return np.bincount(bin_indices(values, edges), minlength=len(edges) + 1).astype(float)


def detection(trials: int) -> None:
    ref_rows, edges, proportions = reference()
    rng = np.random.default_rng(1)
    print("1. Detection of a mean shift in one of 20 features: share of trials flagged (n = live rows)")
    print(f"   {trials} trials per cell; reference: {REFERENCE_ROWS} training rows, decile bins\n")
    header = "shift   test        " + "".join(f"{n:>8}" for n in SIZES) + "   n at 90%"
    print(header)
    for shift in SHIFTS:
        rates: dict[str, list[float]] = {"PSI>0.2": [], "JS>0.1": [], "G-test": [], "KS (anchor)": []}
        for n in SIZES:
            flagged = dict.fromkeys(rates, 0)
            for _ in range(trials):
                live = rng.standard_normal(n) + shift
                counts = counts_of(live, edges)
                flagged["PSI>0.2"] += debiased_psi(counts, proportions, REFERENCE_ROWS) > 0.2
                flagged["JS>0.1"] += debiased_js_distance(counts, proportions, REFERENCE_ROWS) > 0.1
                flagged["G-test"] += g_test(counts, proportions, REFERENCE_ROWS).p_value < P_VALUE / SERIES
                flagged["KS (anchor)"] += stats.ks_2samp(live, ref_rows).pvalue < 0.05
            for name in rates:
                rates[name].append(flagged[name] / trials)
        for name, row in rates.items():
            first = next((n for n, rate in zip(SIZES, row, strict=True) if rate >= 0.9), None)
            cells = "".join(f"{rate:>8.0%}" for rate in row)
            print(f"{shift:<6}  {name:<12}{cells}   {first if first else '> ' + str(SIZES[-1]):>8}")
        print()


def false_alarms(windows: int, rows_per_window: int, thresholds: Thresholds) -> tuple[float, float]:
    """(share of intervals with a confirmed alarm, share with any feature drifting) on stationary data."""
    _, edges, proportions = reference()
    rng = np.random.default_rng(2)
    intervals_per_window = 10
    block = rows_per_window // intervals_per_window
    blocks: list[np.ndarray] = []
    streaks: dict[str, int] = {}
    alarms = drifting = judged = 0
    for _ in range(windows + intervals_per_window):
        rows = rng.standard_normal((block, FEATURES))
        blocks.append(np.stack([counts_of(rows[:, j], edges) for j in range(FEATURES)]))
        blocks = blocks[-intervals_per_window:]
        if len(blocks) < intervals_per_window:
            continue
        window = np.sum(blocks, axis=0)
        features = [BinnedFeature(f"f{j}", tuple(window[j]), tuple(proportions)) for j in range(FEATURES)]
        verdicts = judge_features(features, REFERENCE_ROWS, thresholds, 500, 2, streaks)
        streaks = {v.name: v.consecutive for v in verdicts}
        judged += 1
        alarms += bool(confirmed_features(verdicts, 2))
        drifting += any(v.drifted for v in verdicts)
    return alarms / judged, drifting / judged


def ks_false_alarms(windows: int, rows_per_window: int) -> float:
    ref_rows, _, _ = reference()
    rng = np.random.default_rng(3)
    flagged = 0
    for _ in range(windows):
        rows = rng.standard_normal((rows_per_window, FEATURES))
        flagged += any(stats.ks_2samp(rows[:, j], ref_rows).pvalue < 0.05 for j in range(FEATURES))
    return flagged / windows


def report_false_alarms(windows: int) -> None:
    print(f"2. False alarms on stationary data, {windows} intervals, rolling 10-interval window, 20 features")
    print("   rule                                  rows/window   confirmed alarms   a feature drifting")
    for rows in (500, 5000):
        for name, thresholds in (
            ("default (PSI 0.2, JS 0.1, consecutive 2)", Thresholds()),
            ("default + G-test pValue 0.01", Thresholds(p_value=0.01)),
            (f"default + G-test pValue {P_VALUE}", Thresholds(p_value=P_VALUE)),
        ):
            alarm, drift = false_alarms(windows, rows, thresholds)
            print(f"   {name:<40}{rows:>8}   {alarm:>14.2%}   {drift:>14.2%}")
    ks_windows = min(windows, 300)
    print(f"   {'anchor KS p<0.05 per column, any of 20':<40}{500:>8}   {'-':>14}   "
          f"{ks_false_alarms(ks_windows, 500):>14.2%}  ({ks_windows} independent windows)\n")  # fmt: skip


def prometheus_answer(
    features: int, edges: list[float], proportions: list[float], rng: np.random.Generator
) -> str:
    """The JSON Prometheus returns for one ModelDeployment's drift query (live, reference, samples, ready)."""
    result = []
    les = [repr(e) for e in edges] + ["+Inf"]
    for j in range(features):
        cumulative = np.cumsum(rng.multinomial(5000, proportions))
        for le, total, share in zip(les, cumulative, proportions, strict=True):
            result.append(
                {"metric": {"feature": f"f{j}", "le": le, "source": "live"}, "value": [0, str(float(total))]}
            )
            result.append(
                {"metric": {"feature": f"f{j}", "le": le, "source": "reference"}, "value": [0, str(share)]}
            )
    result.append({"metric": {"source": "samples"}, "value": [0, "10000"]})
    result.append({"metric": {"source": "ready"}, "value": [0, "1"]})
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def operator_cost(features: int = 100, deployments: int = 50, rounds: int = 3) -> None:
    _, edges, proportions = reference()
    answers = [
        prometheus_answer(features, edges, proportions, np.random.default_rng(i)) for i in range(deployments)
    ]
    best = float("inf")
    for _ in range(rounds):
        cpu = time.process_time()
        for text in answers:
            series = [(e["metric"], float(e["value"][1])) for e in json.loads(text)["data"]["result"]]
            window = window_from_series(series, None)
            judge_features(window.features, window.reference_samples, Thresholds(p_value=P_VALUE), 500, 2, {})
        best = min(best, time.process_time() - cpu)
    size = len(answers[0]) / 1024
    print(f"3. Operator CPU per interval, {features} features x {deployments} ModelDeployments "
          f"(answers of {size:.0f} KiB each): {best * 1000:.0f} ms (best of {rounds}), "
          f"{best / deployments * 1000:.1f} ms per ModelDeployment\n")  # fmt: skip


def serving_cost(requests: int, rounds: int) -> None:
    import uvloop

    from ferryman_testing.models import make_gradient_boosting_model
    from serving_inprocess import WARM_UP_REQUESTS, build_app, drive, request_body

    with tempfile.TemporaryDirectory(prefix="ferryman-drift-bench-") as workdir:
        with_profile = make_gradient_boosting_model(Path(workdir) / "on").directory
        without = Path(workdir) / "off"
        without.mkdir()
        shutil.copy(with_profile / "model.onnx", without / "model.onnx")
        apps = {"histograms on": build_app(with_profile, False), "histograms off": build_app(without, False)}
        body = request_body()
        results: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            uvloop.run(drive(app, body, WARM_UP_REQUESTS, 16))
        for _ in range(rounds):
            for name, app in apps.items():
                cpu = time.process_time()
                uvloop.run(drive(app, body, requests, 16))
                results[name].append((time.process_time() - cpu) / requests * 1e6)
                app.metrics.snapshot()  # a scrape bins what is buffered; count it with its round
        for app in apps.values():
            app.workers.stop()
    on, off = (float(np.median(results[name])) for name in apps)
    print(f"4. Serving CPU per one-row infer request, in-process app, median of {rounds} alternating rounds "
          f"of {requests}:")  # fmt: skip
    for name, values in results.items():
        print(f"   {name:<15} {np.median(values):6.1f} us  (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"   histograms cost {on - off:+.1f} us per request ({(on - off) / off:+.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--windows", type=int, default=1200)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="few trials, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.windows, args.requests, args.rounds = 20, 100, 2000, 1
    detection(args.trials)
    report_false_alarms(args.windows)
    operator_cost()
    serving_cost(args.requests, args.rounds)


if __name__ == "__main__":
    main()
