"""An ONNX model held in one ONNX Runtime session: its tensor signature, inference and warm-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ferryman_serving.datatypes import numpy_dtype_of, oip_datatype_of_onnx


@dataclass(frozen=True)
class TensorSpec:
    """Name, OIP datatype and shape (-1 = any size) of a model input or output."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    # Symbolic dimension names ("batch"), None where the graph fixes or leaves a dimension anonymous.
    dim_names: tuple[str | None, ...] = ()

    def as_metadata(self) -> dict[str, object]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _dim(value: object) -> int:
    # ONNX symbolic dimensions ("batch", None) mean "any size"; the protocol writes them as -1.
    return value if isinstance(value, int) and value >= 0 else -1


def _specs(nodes: list[ort.NodeArg]) -> tuple[TensorSpec, ...]:
    specs = []
    for node in nodes:
        datatype = oip_datatype_of_onnx(node.type)
        if datatype is None:
            raise ValueError(
                f"model tensor {node.name!r} has type {node.type}, which the Open Inference Protocol "
                "cannot carry (only numeric, bool and string tensors)"
            )
        names = tuple(d if isinstance(d, str) and d else None for d in node.shape)
        specs.append(TensorSpec(node.name, datatype, tuple(_dim(d) for d in node.shape), names))
    return tuple(specs)


def _shared_dimensions(inputs: tuple[TensorSpec, ...]) -> list[tuple[str, list[tuple[str, int]]]]:
    """Symbolic dimensions that appear more than once among the inputs: (name, [(input, axis), ...])."""
    places: dict[str, list[tuple[str, int]]] = {}
    for spec in inputs:
        for axis, dim_name in enumerate(spec.dim_names):
            if dim_name is not None:
                places.setdefault(dim_name, []).append((spec.name, axis))
    return [(name, where) for name, where in places.items() if len(where) > 1]


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    """Session options shared by the server and the benchmark's bare endpoint."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    # Spinning threads burn the CPU that the event loop needs between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxModel:
    """A loaded ONNX model. `run` takes and returns numpy arrays by tensor name."""

    def __init__(self, path: Path, intra_op_threads: int = 1) -> None:
        self.session = ort.InferenceSession(
            str(path), sess_options=session_options(intra_op_threads), providers=["CPUExecutionProvider"]
        )
        self.inputs = _specs(self.session.get_inputs())
        self.outputs = _specs(self.session.get_outputs())
        self.inputs_by_name = {spec.name: spec for spec in self.inputs}
        self.outputs_by_name = {spec.name: spec for spec in self.outputs}
        self.output_names = [spec.name for spec in self.outputs]
        # Inputs that must agree on a size (both "batch"): checked before running, because ONNX
        # Runtime reports a disagreement as a generic failure deep inside some kernel.
        self.shared_dimensions = _shared_dimensions(self.inputs)
        # InferenceSession.run re-validates feed names on every call (~1.5 us, a tenth of a small
        # model's request); the data plane has validated them, so call the binding when it exists.
        binding = getattr(self.session, "_sess", None)
        self._run_raw = binding.run if binding is not None else None

    def run(
        self, feeds: dict[str, np.ndarray], output_names: list[str], run_options: ort.RunOptions | None = None
    ) -> list[np.ndarray]:
        """One session.run; the caller has validated names, datatypes and shapes. Setting
        `run_options.terminate` from another thread stops it."""
        if self._run_raw is not None:
            results = self._run_raw(output_names, feeds, run_options)
        else:
            results = self.session.run(output_names, feeds, run_options)
        return [np.asarray(result) for result in results]

    def warm_up(self) -> None:
        """Run once on a one-row input of zeros, so the first real request does not pay for lazy setup."""
        feeds = {spec.name: _zeros_like(spec) for spec in self.inputs}
        self.run(feeds, self.output_names)


def _zeros_like(spec: TensorSpec) -> np.ndarray:
    shape = tuple(1 if d < 0 else d for d in spec.shape)
    dtype = numpy_dtype_of(spec.datatype)
    if dtype is None:
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype=dtype)
