"""The candidate through the serving image's own data plane (decode, validate, run, encode: everything
a request meets except HTTP), one holdout row per request, before it is registered.

Logs `serving_p99_ms` (so a metric gate can hold back a model that is too slow) and `serving_valid`
(1.0 when every answer was a well-formed inference response).
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ferryman.api import training_contract as contract
from ferryman.train.mlflow_client import quiet_mlflow
from ferryman.train.onnx_model import as_feature_matrix
from ferryman.train.run import TrainingRun
from ferryman_serving.dataplane import DataPlane
from ferryman_serving.datatypes import numpy_dtype_of
from ferryman_serving.errors import ClientError
from ferryman_serving.metrics import ServingMetrics
from ferryman_serving.model import TensorSpec
from ferryman_serving.repository import ModelRepository, ModelState
from ferryman_serving.settings import Settings
from ferryman_serving.sources import MODEL_FILENAME

MODEL_NAME = "candidate"
LOAD_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ServingCheck:
    requests: int
    p99_ms: float
    valid: bool
    problem: str | None  # the first malformed answer or refused request, when not valid


def check_serving(
    run: TrainingRun, onnx_bytes: bytes, holdout_features: Any, max_rows: int = 200
) -> ServingCheck:
    """Serve onnx_bytes in-process, send up to max_rows holdout rows one request each, log the results."""
    result = serve_rows(onnx_bytes, as_feature_matrix(holdout_features)[:max_rows])
    quiet_mlflow().log_metrics(
        {contract.SERVING_P99_MS: result.p99_ms, contract.SERVING_VALID: 1.0 if result.valid else 0.0}
    )
    return result


def serve_rows(onnx_bytes: bytes, rows: np.ndarray) -> ServingCheck:
    if rows.shape[0] == 0:
        raise ValueError("the serving check needs at least one holdout row")
    with tempfile.TemporaryDirectory(prefix="ferryman-serving-check-") as scratch:
        (Path(scratch) / MODEL_FILENAME).write_bytes(onnx_bytes)
        plane = _load(Settings(model_uri=f"file://{scratch}/", model_name=MODEL_NAME, download_dir=scratch))
        input_spec = plane.repository.serving.inputs[0] if plane.repository.serving else None
        assert input_spec is not None  # _load returned, so the model is serving
        latencies, problem = [], None
        for row in rows:
            body = one_row_request(input_spec, row)
            started = time.perf_counter()
            try:
                answer, _ = plane.infer_bytes(MODEL_NAME, None, body, None)
            except ClientError as error:
                answer, problem = b"", problem or f"the data plane refused a holdout row: {error}"
            latencies.append((time.perf_counter() - started) * 1000.0)
            problem = problem or malformed(answer)
    p99 = float(np.percentile(latencies, 99))
    return ServingCheck(len(latencies), p99, problem is None, problem)


def one_row_request(spec: TensorSpec, row: np.ndarray) -> bytes:
    """An OIP JSON request of one feature row, in the datatype the model's input declares."""
    dtype = numpy_dtype_of(spec.datatype)
    values = row.astype(dtype) if dtype is not None else row
    tensor = {"name": spec.name, "datatype": spec.datatype, "shape": [1, row.size], "data": values.tolist()}
    return orjson.dumps({"inputs": [tensor]})


def _load(settings: Settings) -> DataPlane:
    """The repository's own load (fetch, session, profile, warm-up); it retries forever by design, so a
    model that cannot load is stopped after its first failure."""
    repository = ModelRepository(settings, ServingMetrics(settings.model_name))
    # Its log speaks to a server's operator (no profile.json: drift metrics off; load failed: retrying);
    # here the failure is raised with its cause instead, and drift metrics are not wanted.
    repository_log = logging.getLogger("ferryman_serving.repository")
    level = repository_log.level
    repository_log.setLevel(logging.CRITICAL)
    try:
        threading.Thread(target=repository.load, daemon=True).start()
        deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
        while repository.state is ModelState.LOADING and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        repository_log.setLevel(level)
    if repository.state is not ModelState.READY:
        repository.stop_loading()
        raise RuntimeError(f"the serving image cannot load the candidate model: {repository.failure}")
    return DataPlane(repository)


def malformed(answer: bytes) -> str | None:
    """Why an infer answer is not a well-formed one-row response, or None."""
    try:
        response = orjson.loads(answer)
        outputs = response["outputs"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"the answer is not an inference response: {answer[:200]!r}"
    if not outputs:
        return "the answer has no outputs"
    for output in outputs:
        shape, data = output.get("shape"), output.get("data")
        if not shape or shape[0] != 1 or not isinstance(data, list) or len(data) != math.prod(shape):
            return f"output {output.get('name')!r} has shape {shape} and {len(data or [])} values for one row"
        if any(isinstance(v, float) and not math.isfinite(v) for v in data):
            return f"output {output.get('name')!r} holds non-finite values: {data[:10]}"
    return None
