"""What `ferryman.train` adds to a training run, beside the plain MLflow calls a user would write anyway.

    .venv/bin/python bench/training_overhead.py              # 3 interleaved rounds per variant
    .venv/bin/python bench/training_overhead.py --rounds 5

Against a real `mlflow server` (SQLite) on loopback, each variant is one fresh Python process (imports
included, as a training container pays them), timed from start to exit:

- plain: the same training (breast-cancer data, scaler + logistic regression, skl2onnx) logged with
  `mlflow.log_params`, `mlflow.log_metric` and `mlflow.onnx.log_model` with a registered version: the
  anchor.
- plain-artifact: the same, but model.onnx logged as a bare artifact and the version created from it:
  the cheapest MLflow way, a lower bound for the anchor.
- sdk: examples/train_breast_cancer.py: the same training through `ferryman.train` (lineage tags, seed,
  environment artifact, data checks, serving check, profile, model card, registration), no champion yet.
- sdk+champion: the same with the champion alias set, so the champion is downloaded and evaluated too.

Goal (issue 11): the SDK adds <= 2 s to a run beyond the plain calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ferryman_testing import REPO_ROOT
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.registry import Registry

TRAINER = REPO_ROOT / "examples" / "train_breast_cancer.py"


def plain_training(minimal: bool) -> None:
    """The anchor: the same training with the MLflow calls a user writes without the SDK. `minimal`:
    model.onnx as a bare artifact and a version created from it (MLflow's cheapest way), instead of
    `mlflow.onnx.log_model` (the flavor, with its logged model, signature and requirements)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlflow.set_experiment(os.environ["FERRYMAN_EXPERIMENT"])
    with mlflow.start_run() as run:
        params = {"C": 1.0, "max_iter": 500, "holdout_fraction": 0.25, "seed": 0}
        mlflow.log_params(params)
        frame = load_breast_cancer(as_frame=True).frame
        features, labels = frame.drop(columns=["target"]), frame["target"]
        x_train, x_hold, y_train, y_hold = train_test_split(
            features, labels, test_size=0.25, random_state=0, stratify=labels
        )
        estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
        estimator.fit(x_train, y_train)
        mlflow.log_metric("accuracy", accuracy_score(y_hold, estimator.predict(x_hold)))
        onnx = convert_sklearn(
            estimator,
            initial_types=[("features", FloatTensorType([None, features.shape[1]]))],
            options={id(estimator): {"zipmap": False}},
        )
        name = os.environ["FERRYMAN_REGISTERED_MODEL"]
        if not minimal:
            import mlflow.onnx

            mlflow.onnx.log_model(onnx, name="model", registered_model_name=name)
            return
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "model.onnx"
            path.write_bytes(onnx.SerializeToString())
            mlflow.log_artifact(str(path), artifact_path="model")
        client = mlflow.MlflowClient()
        if not client.search_registered_models(filter_string=f"name='{name}'"):
            client.create_registered_model(name)
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--plain", choices=["log-model", "artifact"], help=argparse.SUPPRESS
    )  # one anchor run
    args = parser.parse_args()
    if args.plain:
        plain_training(minimal=args.plain == "artifact")
        return
    # MLflow's usage telemetry would call out of the machine; the SDK turns it off by default, so every
    # variant (and the server) runs without it.
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    with tempfile.TemporaryDirectory() as workdir, MlflowServer(Path(workdir)) as server:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FERRYMAN_", "MLFLOW_"))}
        base |= {"MLFLOW_TRACKING_URI": server.url, "FERRYMAN_EXPERIMENT": "bench"}
        variants = {
            "plain": (
                [sys.executable, __file__, "--plain", "log-model"],
                {**base, "FERRYMAN_REGISTERED_MODEL": "plain"},
            ),
            "plain-artifact": (
                [sys.executable, __file__, "--plain", "artifact"],
                {**base, "FERRYMAN_REGISTERED_MODEL": "plain-artifact"},
            ),
            "sdk": ([sys.executable, str(TRAINER)], {**base, "FERRYMAN_REGISTERED_MODEL": "sdk"}),
            "sdk+champion": (
                [sys.executable, str(TRAINER)],
                {**base, "FERRYMAN_REGISTERED_MODEL": "champ", "FERRYMAN_CHAMPION_ALIAS": "production"},
            ),
        }
        # The champion variant needs a champion: one untimed run registers it.
        timed(*variants["sdk+champion"])
        Registry(server.url).move_alias("champ", "production", "1")
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (command, env) in variants.items():
                times[name].append(timed(command, env))
    report(times)


def report(times: dict[str, list[float]]) -> None:
    plain = statistics.median(times["plain"])
    cheapest = statistics.median(times["plain-artifact"])
    print(f"median of {len(times['plain'])} interleaved rounds, one fresh process per run, wall seconds\n")
    print(f"{'variant':<15} {'median s':>9} {'vs plain':>9} {'vs artifact':>12}   rounds")
    for name, values in times.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<15} {median:>9.2f} {median - plain:>+9.2f} {median - cheapest:>+12.2f}   {rounds}")
    added = statistics.median(times["sdk"]) - plain
    verdict = "met" if added <= 2 else "NOT met"
    print(f"\ngoal: the SDK adds <= 2 s beyond the plain calls: {verdict} ({added:+.2f} s)")


if __name__ == "__main__":
    main()
