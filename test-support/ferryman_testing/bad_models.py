"""Bad candidate models made by the test harness (never by fault injection in the product).

Each takes the same input and output names and shapes as the GradientBoosting model in
test-support/ferryman_testing/models.py, so clients send identical requests to stable and candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ferryman_testing.models import FEATURES, INPUT_NAME, OUTPUT_NAME, _save


def _io() -> tuple[object, object]:
    features = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, FEATURES])
    prediction = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, 1])
    return features, prediction


def make_failing_model(path: Path) -> Path:
    """Warms up fine on zeros (so it becomes Ready), then fails every real request at run time: HTTP 500.

    The Reshape target is [1, 20] when the first feature is 0 and the impossible [7, 3] otherwise.
    """
    features, prediction = _io()
    constants = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f"),
        numpy_helper.from_array(np.array([1, FEATURES], dtype=np.int64), "good_shape"),
        numpy_helper.from_array(np.array([6, 3 - FEATURES], dtype=np.int64), "to_bad_shape"),
    ]
    nodes = [
        helper.make_node("Slice", [INPUT_NAME, "zero", "one", "one", "one"], ["first_feature"]),
        helper.make_node("ReduceMax", ["first_feature"], ["x00"], keepdims=0),
        helper.make_node("Equal", ["x00", "zero_f"], ["is_zero"]),
        helper.make_node("Not", ["is_zero"], ["nonzero"]),
        helper.make_node("Cast", ["nonzero"], ["flag"], to=TensorProto.INT64),
        helper.make_node("Mul", ["flag", "to_bad_shape"], ["shift"]),
        helper.make_node("Add", ["good_shape", "shift"], ["shape"]),
        helper.make_node("Reshape", [INPUT_NAME, "shape"], ["reshaped"]),
        helper.make_node("ReduceSum", ["reshaped", "one"], [OUTPUT_NAME], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "fails_on_real_requests", [features], [prediction], constants)
    return _save(graph, path)


def make_slow_model(path: Path, size: int = 800) -> Path:
    """Correct-looking answers after a size x size matrix product built from the input (tens of ms)."""
    features, prediction = _io()
    repeats = numpy_helper.from_array(np.array([size, size // FEATURES], dtype=np.int64), "repeats")
    nodes = [
        helper.make_node("Slice", [INPUT_NAME, "zero", "one", "zero_axis"], ["first_row"]),
        helper.make_node("Tile", ["first_row", "repeats"], ["square"]),
        helper.make_node("MatMul", ["square", "square_t"], ["product"]),
        helper.make_node("Transpose", ["square"], ["square_t"]),
        helper.make_node("ReduceMean", ["product"], ["busy"], keepdims=0),
        helper.make_node("ReduceSum", [INPUT_NAME, "one"], ["row_sum"], keepdims=1),
        helper.make_node("Mul", ["busy", "nothing"], ["zeroed"]),
        helper.make_node("Add", ["row_sum", "zeroed"], [OUTPUT_NAME]),
    ]
    constants = [
        repeats,
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_axis"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "nothing"),
    ]
    # Topological order matters to the checker: Transpose before MatMul.
    nodes[2], nodes[3] = nodes[3], nodes[2]
    graph = helper.make_graph(nodes, "slow", [features], [prediction], constants)
    return _save(graph, path)


def make_sometimes_slow_model(path: Path, size: int = 3600, marker: float = 5.0) -> Path:
    """Fast, except for requests whose first feature is above `marker`: those take a size x size
    matrix product (about a second on these machines). Warm-up on zeros stays fast, so the
    model becomes Ready; a client that marks 1 request in 100 makes a canary slow on 1% of inputs.
    """
    features, prediction = _io()
    repeats = numpy_helper.from_array(np.array([size, size // FEATURES], dtype=np.int64), "repeats")
    heavy = helper.make_graph(
        [
            helper.make_node("Slice", [INPUT_NAME, "zero", "one", "zero"], ["first_row"]),
            helper.make_node("Tile", ["first_row", "repeats"], ["square"]),
            helper.make_node("Transpose", ["square"], ["square_t"]),
            helper.make_node("MatMul", ["square", "square_t"], ["product"]),
            helper.make_node("ReduceMean", ["product"], ["busy"], keepdims=0),
            helper.make_node("Mul", ["busy", "nothing"], ["zeroed"]),
            helper.make_node("Add", ["row_sum", "zeroed"], ["slow_out"]),
        ],
        "heavy",
        [],
        [helper.make_tensor_value_info("slow_out", TensorProto.FLOAT, [None, 1])],
    )
    light = helper.make_graph(
        [helper.make_node("Identity", ["row_sum"], ["fast_out"])],
        "light",
        [],
        [helper.make_tensor_value_info("fast_out", TensorProto.FLOAT, [None, 1])],
    )
    nodes = [
        helper.make_node("ReduceSum", [INPUT_NAME, "one"], ["row_sum"], keepdims=1),
        helper.make_node("Slice", [INPUT_NAME, "zero", "one", "one", "one"], ["first_feature"]),
        helper.make_node("ReduceMax", ["first_feature"], ["x00"], keepdims=0),
        helper.make_node("Greater", ["x00", "marker"], ["marked"]),
        helper.make_node("If", ["marked"], [OUTPUT_NAME], then_branch=heavy, else_branch=light),
    ]
    constants = [
        repeats,
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "nothing"),
        numpy_helper.from_array(np.array(marker, dtype=np.float32), "marker"),
    ]
    graph = helper.make_graph(nodes, "sometimes_slow", [features], [prediction], constants)
    return _save(graph, path)
