"""ONNX bytes from a scikit-learn estimator, and predictions from ONNX bytes through ONNX Runtime."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

FEATURE_INPUT = "features"


def as_feature_matrix(features: Any) -> np.ndarray:
    """A [rows, features] float32 matrix (the input type skl2onnx models are converted with)."""
    matrix = np.asarray(features, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"features must be 2-D [rows, features], got shape {matrix.shape}")
    return matrix


def sklearn_to_onnx(estimator: Any, n_features: int, input_name: str = FEATURE_INPUT) -> bytes:
    """Convert a fitted estimator (or pipeline) taking n_features float columns. Classifiers give their
    probabilities as a plain [rows, classes] tensor (zipmap off): the serving protocol carries tensors,
    not the list of maps skl2onnx would produce by default."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    model = convert_sklearn(
        estimator, initial_types=[(input_name, FloatTensorType([None, n_features]))], options=options
    )
    serialized: bytes = model.SerializeToString()
    return serialized


def onnx_session(onnx_bytes: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])


def onnx_predict(onnx_bytes: bytes, features: Any, output: str | int = 0) -> np.ndarray:
    """One output (by name or index) of the model on a feature matrix fed to its first input."""
    session = onnx_session(onnx_bytes)
    names = [node.name for node in session.get_outputs()]
    name = names[output] if isinstance(output, int) else output
    if name not in names:
        raise ValueError(f"the model has no output {name!r}; its outputs are {names}")
    matrix = as_feature_matrix(features)
    (result,) = session.run([name], {session.get_inputs()[0].name: matrix})
    return np.asarray(result)
