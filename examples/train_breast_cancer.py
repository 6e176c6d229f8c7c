"""An example trainer: logistic regression on scikit-learn's bundled breast-cancer data, through
`ferryman.train`. Run it as a TrainingJob's container command, or by hand with two variables:

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 FERRYMAN_EXPERIMENT=demo python examples/train_breast_cancer.py

FERRYMAN_DATA_URI may name a CSV (path or file:// URL) with the same columns and a `target` column;
unset, the bundled data is used. Exits 65 when a data check fails (the run is then FAILED in MLflow and
nothing is registered; the TrainingJob fails at once, without retries), 78 when the environment lacks what
a run needs.
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ferryman.api.trainingjob import DataCheck
from ferryman.train.champion import evaluate_champion
from ferryman.train.model import log_model
from ferryman.train.onnx_model import onnx_predict, sklearn_to_onnx
from ferryman.train.run import run_trainer, training_run
from ferryman.train.serving_check import check_serving

TARGET = "target"
# Used when the TrainingJob gives no spec.validation.data.
DEFAULT_CHECKS = [
    DataCheck(name="rows", check="rowCount", min=100),
    DataCheck(name="radius-complete", check="nullFraction", column="mean radius", max=0.0),
]


def load_frame(uri: str | None) -> pd.DataFrame:
    if uri is None or uri == "sklearn://breast_cancer":
        frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
        return frame
    return pd.read_csv(uri.removeprefix("file://"))


def train() -> None:
    with training_run(
        experiment="breast-cancer",
        registered_model="breast-cancer",
        params={"C": "1.0", "max_iter": "500", "holdout_fraction": "0.25"},
    ) as run:
        frame = load_frame(run.context.data_uri)
        run.check_data(frame, None if run.context.data_checks else DEFAULT_CHECKS)
        features, labels = frame.drop(columns=[TARGET]), frame[TARGET]
        x_train, x_hold, y_train, y_hold = train_test_split(
            features, labels, test_size=float(run.params["holdout_fraction"]), random_state=run.seed,
            stratify=labels,
        )  # fmt: skip
        estimator = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=float(run.params["C"]), max_iter=int(run.params["max_iter"])),
        )
        estimator.fit(x_train, y_train)
        onnx_bytes = sklearn_to_onnx(estimator, features.shape[1])
        # The metric is measured on what will be served (the ONNX model), not on the Python estimator.
        run.log_metric("accuracy", accuracy_score(y_hold, onnx_predict(onnx_bytes, x_hold, "label")))
        evaluate_champion(run, x_hold, y_hold, "accuracy", accuracy_score, output="label")
        check_serving(run, onnx_bytes, x_hold)
        version = log_model(
            run,
            onnx_bytes,
            x_train,
            intended_use="Demonstration: classify breast-tumour measurements as malignant (0) or benign (1). "
            "Not for clinical use.",
            feature_names=list(features.columns),
            prediction_output="probabilities",
            prediction_column=1,
        )
        print(f"registered {run.context.registered_model} version {version} from run {run.run_id}")


if __name__ == "__main__":
    sys.exit(run_trainer(train))
