"""Models for tests, demos and benchmarks: a scikit-learn GradientBoosting model converted with skl2onnx
(with its reference profile), and tiny ONNX graphs built with onnx.helper for datatype tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ferryman_serving.profile import PROFILE_FILENAME, build_profile, save_profile

FEATURES = 20
INPUT_NAME = "features"
OUTPUT_NAME = "variable"

# OIP datatype -> ONNX element type, for the identity model that echoes every datatype.
ONNX_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
}


@dataclass(frozen=True)
class GradientBoostingFiles:
    """model.onnx and profile.json in one directory, plus the training matrix they came from."""

    directory: Path
    model_path: Path
    profile_path: Path
    training_rows: np.ndarray


def training_matrix(rows: int = 2000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic regression problem with FEATURES standard-normal features."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    weights = rng.standard_normal(FEATURES)
    target = features @ weights + 0.1 * rng.standard_normal(rows)
    return features, target


def make_gradient_boosting_model(directory: Path, trees: int = 100) -> GradientBoostingFiles:
    """Train GradientBoostingRegressor (trees, 20 features), convert with skl2onnx, write the profile."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingRegressor

    features, target = training_matrix()
    regressor = GradientBoostingRegressor(n_estimators=trees, max_depth=3, random_state=0)
    regressor.fit(features, target)
    onnx_model = convert_sklearn(
        regressor, initial_types=[(INPUT_NAME, FloatTensorType([None, FEATURES]))], target_opset=17
    )
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / "model.onnx"
    model_path.write_bytes(onnx_model.SerializeToString())
    predictions = regressor.predict(features)
    profile = build_profile(
        features,
        predictions,
        n_bins=10,
        feature_names=[f"f{i}" for i in range(FEATURES)],
        input_name=INPUT_NAME,
        prediction_output=OUTPUT_NAME,
    )
    profile_path = directory / PROFILE_FILENAME
    save_profile(profile, profile_path)
    return GradientBoostingFiles(directory, model_path, profile_path, features)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def make_identity_model(path: Path) -> Path:
    """Per numeric datatype and BOOL: input `in_<DT>` -> Identity -> output `out_<DT>`, shape [-1, 3]."""
    nodes, inputs, outputs = [], [], []
    for datatype, element in ONNX_TYPES.items():
        inputs.append(helper.make_tensor_value_info(f"in_{datatype}", element, ["batch", 3]))
        outputs.append(helper.make_tensor_value_info(f"out_{datatype}", element, ["batch", 3]))
        nodes.append(helper.make_node("Identity", [f"in_{datatype}"], [f"out_{datatype}"]))
    return _save(helper.make_graph(nodes, "identity_all_datatypes", inputs, outputs), path)


def make_two_input_model(path: Path) -> Path:
    """Inputs a, b: FP32 [-1, 3]; outputs sum = a + b and product = a * b."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3])
    total = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3])
    product = helper.make_tensor_value_info("product", TensorProto.FLOAT, ["batch", 3])
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["product"])]
    return _save(helper.make_graph(nodes, "two_inputs", [a, b], [total, product]), path)


def make_string_model(path: Path) -> Path:
    """Input text: string [-1]; output echo = Identity(text)."""
    text = helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])
    echo = helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch"])
    graph = helper.make_graph([helper.make_node("Identity", ["text"], ["echo"])], "strings", [text], [echo])
    return _save(graph, path)


def make_argmax_classifier(directory: Path, with_profile: bool = False) -> Path:
    """A two-class classifier: input x FP32 [batch, 2], output class INT64 [batch] = argmax of the columns.

    with_profile: profile.json beside it, from 2,000 standard-normal rows (features "a", "b").
    """
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    label = helper.make_tensor_value_info("class", TensorProto.INT64, ["batch"])
    node = helper.make_node("ArgMax", ["x"], ["class"], axis=1, keepdims=0)
    path = _save(helper.make_graph([node], "argmax", [x], [label]), directory / "model.onnx")
    if with_profile:
        rows = np.random.default_rng(3).standard_normal((2000, 2))
        profile = build_profile(rows, np.argmax(rows, axis=1), feature_names=["a", "b"])
        save_profile(profile, directory / PROFILE_FILENAME)
    return path
