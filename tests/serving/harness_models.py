"""Models the serving tests build for limits and load: one that computes for a while, and x·xᵀ."""

from __future__ import annotations

from pathlib import Path

from onnx import TensorProto, helper

from ferryman_testing.bad_models import make_slow_model
from ferryman_testing.models import _save

# A 2000 x 2000 matrix product per request: about 0.3 s on one core of the test machine, slower
# under load. The tests only rely on it taking much longer than a probe may (100 ms).
BUSY_SIZE = 2000


def make_busy_model(path: Path) -> Path:
    """Same signature as the GradientBoosting model (features [-1, 20] -> variable [-1, 1]), ~0.3 s a call."""
    return make_slow_model(path, size=BUSY_SIZE)


def make_gram_model(path: Path) -> Path:
    """x: FP32 [n, k] -> gram = x·xᵀ, [n, n]: a tiny request can ask for a huge answer."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "k"])
    gram = helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["n", "n"])
    nodes = [helper.make_node("Transpose", ["x"], ["xt"]), helper.make_node("MatMul", ["x", "xt"], ["gram"])]
    return _save(helper.make_graph(nodes, "gram", [x], [gram]), path)
