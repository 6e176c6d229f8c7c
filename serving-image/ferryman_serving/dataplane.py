"""The inference data plane: metadata, readiness and infer, with drift metrics. Knows nothing of HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from ferryman_serving import __version__
from ferryman_serving.codec import DEFAULT_LIMITS, TensorLimits, decode_request, encode_response
from ferryman_serving.datatypes import oip_datatype_of_array
from ferryman_serving.errors import BadRequest, NotFound, Unavailable
from ferryman_serving.feedback import PredictionStore
from ferryman_serving.labels import is_classification, outcomes_document, per_row_values, record_feedback
from ferryman_serving.model import OnnxModel, TensorSpec
from ferryman_serving.repository import ModelRepository
from ferryman_serving.tensors import InferenceRequest, InferenceResponse, InputTensor, OutputTensor

SERVER_NAME = "ferryman"
EXTENSIONS = ["binary_tensor_data"]


@dataclass(slots=True)
class PreparedInfer:
    """A request checked against the model, ready to run: `run_names` are the outputs to compute
    (what the client wants, then what the drift histograms and the feedback store need)."""

    model: OnnxModel
    request: InferenceRequest
    feeds: dict[str, np.ndarray]
    wanted: list[tuple[str, bool]]
    run_names: list[str]
    remembered: str | None


@dataclass(frozen=True, slots=True)
class InferCall:
    """The CPU-bound part of one infer request (decode, run, encode), for a worker thread."""

    dataplane: DataPlane
    name: str
    version: str | None
    body: bytes
    json_length: int | None

    def __call__(self, run_options: ort.RunOptions) -> tuple[bytes, int | None]:
        return self.dataplane.infer_bytes(self.name, self.version, self.body, self.json_length, run_options)

    def prepare(self) -> PreparedInfer:
        """Decode and check the request, to be run later (possibly merged with others)."""
        request = decode_request(self.body, self.json_length, self.dataplane.limits)
        return self.dataplane.prepare(self.name, self.version, request)


class DataPlane:
    """Open Inference Protocol operations on the served model."""

    def __init__(
        self,
        repository: ModelRepository,
        limits: TensorLimits = DEFAULT_LIMITS,
        max_response_bytes: int = 16 * 1024 * 1024,
        store: PredictionStore | None = None,
        feedback_output: str = "",
        feedback_task: str = "auto",
    ) -> None:
        self.repository = repository
        self.metrics = repository.metrics
        self.limits = limits
        self.max_response_bytes = max_response_bytes
        self.store = store if store is not None and store.max_predictions > 0 else None
        self.feedback_output = feedback_output
        self.feedback_task = feedback_task

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return self.repository.ready

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}

    def check_model(self, name: str, version: str | None) -> None:
        """404 unless name (and version, when given) is the model this server serves."""
        repo = self.repository
        if name != repo.name:
            raise NotFound(f"model {name!r} is not served here; this server serves {repo.name!r}")
        if version is not None and repo.serving is not None and version != repo.version:
            raise NotFound(
                f"model {name!r} has no version {version!r} here; this server serves version {repo.version!r}"
            )

    def model_ready(self, name: str, version: str | None) -> bool:
        self.check_model(name, version)
        return self.repository.ready

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        model = self._serving_model(name, version)
        return {
            "name": self.repository.name,
            "versions": [self.repository.version],
            "platform": "onnxruntime_onnx",
            "inputs": [spec.as_metadata() for spec in model.inputs],
            "outputs": [spec.as_metadata() for spec in model.outputs],
        }

    def _serving_model(self, name: str, version: str | None) -> OnnxModel:
        repo = self.repository
        model = repo.serving
        if model is not None and name == repo.name and (version is None or version == repo.version):
            return model
        self.check_model(name, version)
        raise Unavailable(f"model {name!r} is not ready: {repo.status_for_clients()}")

    def not_ready_reason(self) -> str:
        """Why the server is not ready, in words safe for any client (the details are in the log)."""
        return self.repository.status_for_clients()

    def check_can_infer(self, name: str, version: str | None) -> None:
        """NotFound for another model or version, Unavailable while not loaded."""
        self._serving_model(name, version)

    def infer_bytes(
        self,
        name: str,
        version: str | None,
        body: bytes,
        json_length: int | None,
        run_options: ort.RunOptions | None = None,
    ) -> tuple[bytes, int | None]:
        """Decode, infer, encode: the CPU-bound part of a request, for a worker thread."""
        request = decode_request(body, json_length, self.limits)
        return encode_response(self.infer(name, version, request, run_options))

    def infer(
        self,
        name: str,
        version: str | None,
        request: InferenceRequest,
        run_options: ort.RunOptions | None = None,
    ) -> InferenceResponse:
        """Validate the request against the model signature, run it and count drift histograms."""
        prepared = self.prepare(name, version, request)
        return self.complete(prepared, self.run(prepared, run_options))

    def prepare(self, name: str, version: str | None, request: InferenceRequest) -> PreparedInfer:
        """Check a decoded request against the model: its feeds and the outputs to compute."""
        model = self._serving_model(name, version)
        feeds = {tensor.name: _feed(tensor, model) for tensor in request.inputs}
        if len(feeds) != len(model.inputs):
            missing = [spec.name for spec in model.inputs if spec.name not in feeds]
            raise BadRequest(
                f"missing model input(s) {missing}; the model needs {list(model.inputs_by_name)}"
            )
        if model.shared_dimensions:
            _check_shared_dimensions(feeds, model)
        wanted = _wanted_outputs(request, model)
        taps = self.repository.taps
        run_names = [name for name, _ in wanted]
        if taps.prediction_output is not None and taps.prediction_output not in run_names:
            run_names.append(taps.prediction_output)
        remembered = (
            self._feedback_output(model) if request.id is not None and self.store is not None else None
        )
        if remembered is not None and remembered not in run_names:
            run_names.append(remembered)
        return PreparedInfer(model, request, feeds, wanted, run_names, remembered)

    def run(self, prepared: PreparedInfer, run_options: ort.RunOptions | None = None) -> list[np.ndarray]:
        """session.run of one prepared request; the runtime's refusal of its inputs is a 400."""
        try:
            return prepared.model.run(prepared.feeds, prepared.run_names, run_options)
        except InvalidArgument as error:
            raise BadRequest(f"the model rejected the inputs: {runtime_message(error)}") from None

    def complete(self, prepared: PreparedInfer, results: list[np.ndarray]) -> InferenceResponse:
        """The response from the run's results (in `run_names` order); counts drift histograms."""
        request = prepared.request
        by_name = dict(zip(prepared.run_names, results, strict=True))
        self._check_response_size(by_name, prepared.wanted)
        self._observe(prepared.feeds, by_name)
        if prepared.remembered is not None and request.id is not None:
            self._remember(request.id, by_name[prepared.remembered])
        outputs = [
            OutputTensor(out, oip_datatype_of_array(by_name[out]), by_name[out], binary)
            for out, binary in prepared.wanted
        ]
        return InferenceResponse(self.repository.name, self.repository.version, outputs, request.id)

    def check_feedback(self, name: str, version: str | None) -> PredictionStore:
        """The prediction store; NotFound for another model or version, or when feedback is off."""
        self.check_model(name, version)
        if self.store is None:
            raise NotFound("feedback is off on this server (FERRYMAN_FEEDBACK_MAX_PREDICTIONS is 0)")
        return self.store

    def feedback_bytes(self, name: str, version: str | None, body: bytes) -> bytes:
        """Score delayed labels by request id (POST .../feedback): parse, score and encode, the CPU-bound
        part of the request, for a worker thread."""
        store = self.check_feedback(name, version)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"the body is not JSON: {error}") from None
        return orjson.dumps(outcomes_document(name, record_feedback(store, self.metrics.feedback, document)))

    def _feedback_output(self, model: OnnxModel) -> str | None:
        name = self.feedback_output or model.output_names[0]
        return name if name in model.outputs_by_name else None

    def _remember(self, request_id: str, values: np.ndarray) -> None:
        rows = per_row_values(values)
        if rows is not None and self.store is not None:
            classification = is_classification(rows, self.feedback_task)
            self.store.put(request_id, self.repository.version, rows, classification)

    def _check_response_size(self, results: dict[str, np.ndarray], wanted: list[tuple[str, bool]]) -> None:
        size = sum(results[name].nbytes for name, _ in wanted)
        if size > self.max_response_bytes:
            shapes = {name: list(results[name].shape) for name, _ in wanted}
            raise BadRequest(
                f"the outputs for these inputs would be {size} bytes ({shapes}), over the limit of "
                f"{self.max_response_bytes} (FERRYMAN_MAX_RESPONSE_BYTES); send smaller batches"
            )

    def _observe(self, feeds: dict[str, np.ndarray], results: dict[str, np.ndarray]) -> None:
        taps = self.repository.taps
        if taps.feature_input is not None:
            rows = feeds[taps.feature_input]
            if rows.ndim == 2 and rows.shape[1] == taps.feature_count and rows.dtype.kind in "fiub":
                self.metrics.observe_features(rows)
        if taps.prediction_output is not None:
            values = results[taps.prediction_output]
            if taps.prediction_column is not None and values.ndim == 2:
                if values.shape[1] <= taps.prediction_column:
                    return  # an output whose width follows the request: this one has no such column
                values = values[:, taps.prediction_column]
            if values.dtype.kind in "fiub":
                self.metrics.observe_predictions(values)


def _feed(tensor: InputTensor, model: OnnxModel) -> np.ndarray:
    spec = model.inputs_by_name.get(tensor.name)
    if spec is None:
        raise BadRequest(f"model has no input {tensor.name!r}; its inputs are {list(model.inputs_by_name)}")
    if tensor.datatype != spec.datatype:
        raise BadRequest(
            f"input {tensor.name!r} has datatype {tensor.datatype} but the model expects {spec.datatype}"
        )
    _check_shape(tensor.array.shape, spec)
    if spec.datatype == "BYTES":
        # ONNX Runtime takes string tensors as numpy object arrays of str.
        if not tensor.array.size:
            return tensor.array
        try:
            texts: np.ndarray = np.vectorize(_as_text, otypes=[object])(tensor.array)
        except UnicodeDecodeError:
            raise BadRequest(_not_utf8_message(tensor)) from None
        return texts
    return tensor.array


def _not_utf8_message(tensor: InputTensor) -> str:
    at = next(index for index, value in enumerate(tensor.array.flat) if not _is_text(value))
    return (
        f"input {tensor.name!r} element {at} is not UTF-8 text; the model's string input takes text, so "
        "encode the strings as UTF-8 (binary BYTES carry them as they are, nothing is replaced)"
    )


def _check_shared_dimensions(feeds: dict[str, np.ndarray], model: OnnxModel) -> None:
    for dim_name, places in model.shared_dimensions:
        sizes = {f"{name}[{axis}]": feeds[name].shape[axis] for name, axis in places}
        if len(set(sizes.values())) > 1:
            raise BadRequest(
                f"inputs disagree on dimension {dim_name!r}, which the model requires to be equal: {sizes}"
            )


# "/onnxruntime_src/.../gather.cc:112 onnxruntime::common::Status onnxruntime::GatherCopyData(int) "
_SOURCE_LOCATION = re.compile(r"\S+\.(?:cc|cpp|h):\d+\s*(?:(?:\S+\s+)?\S+\([^)]*\)\s*)?")


def runtime_message(error: Exception) -> str:
    """What a client may read of an ONNX Runtime error about its inputs: the status message, without
    the error-code prefix and the runtime's source file paths and function signatures."""
    text = str(error)
    marker = "Status Message: " if "Status Message: " in text else " : "
    text = text.rsplit(marker, 1)[-1]
    return _SOURCE_LOCATION.sub("", text).strip()


def _is_text(value: Any) -> bool:
    try:
        _as_text(value)
    except UnicodeDecodeError:
        return False
    return True


def _as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_shape(shape: tuple[int, ...], spec: TensorSpec) -> None:
    fits = len(shape) == len(spec.shape)
    if fits:
        for got, want in zip(shape, spec.shape, strict=True):
            if want >= 0 and got != want:
                fits = False
    if not fits:
        raise BadRequest(
            f"input {spec.name!r} has shape {list(shape)} but the model expects {list(spec.shape)} "
            "(-1 = any size)"
        )


def _wanted_outputs(request: InferenceRequest, model: OnnxModel) -> list[tuple[str, bool]]:
    if request.outputs is None:
        return [(name, request.binary_default) for name in model.output_names]
    wanted = []
    for output in request.outputs:
        if output.name not in model.outputs_by_name:
            raise BadRequest(f"model has no output {output.name!r}; its outputs are {model.output_names}")
        wanted.append((output.name, output.binary))
    return wanted
