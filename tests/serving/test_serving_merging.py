"""FERRYMAN_MERGE_MAX_ROWS: requests that arrive together run as one session.run, each gets its own rows
back, and a model that turns out not to compute row by row is no longer merged.

The first tests drive the RowMerger in-process with real models, counting the rows of every run; the
last one sends concurrent requests to a real server with merging on."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from tests.serving.harness_models import make_gram_model

from ferryman_serving.app import create_app
from ferryman_serving.dataplane import DataPlane, InferCall
from ferryman_serving.errors import BadRequest, TimedOut
from ferryman_serving.merging import CHECKED_RUNS, RowMerger
from ferryman_serving.settings import Settings
from ferryman_serving.workers import Job
from ferryman_testing.bad_models import make_failing_model, make_slow_model
from ferryman_testing.models import FEATURES, INPUT_NAME, GradientBoostingFiles, _save
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


class Served:
    """A model loaded in a data plane in this process, with the row count of every run it makes."""

    def __init__(self, model_path: Path, name: str = "model") -> None:
        settings = Settings(model_uri=f"file://{model_path}", model_name=name, log_level="WARNING")
        app = create_app(settings)
        app.workers.stop()
        app.repository.load()
        self.dataplane: DataPlane = app.dataplane
        self.name = name
        model = app.repository.serving
        assert model is not None
        self.runs: list[int] = []
        run = model.run

        def counted(feeds: dict[str, np.ndarray], names: list[str], options: Any = None) -> list[np.ndarray]:
            self.runs.append(next(iter(feeds.values())).shape[0])
            return run(feeds, names, options)

        model.run = counted  # type: ignore[method-assign]
        self.loop = asyncio.new_event_loop()

    def job(self, inputs: list[dict[str, Any]], request_id: str | None = None) -> Job[Any]:
        request: dict[str, Any] = (
            {"inputs": inputs} if request_id is None else {"id": request_id, "inputs": inputs}
        )
        body = json.dumps(request).encode()
        return Job(InferCall(self.dataplane, self.name, None, body, None), self.loop.create_future())

    def merge(self, jobs: list[Job[Any]], max_rows: int = 64, merger: RowMerger | None = None) -> list[Any]:
        """Run the jobs as one worker batch; each job's outputs (as arrays) or its error."""
        handed_back: list[Job[Any]] = []
        (merger or RowMerger(self.dataplane, max_rows))(jobs, handed_back.append)
        assert sorted(map(id, handed_back)) == sorted(map(id, jobs)), "every job is handed back once"
        return [
            job.error if job.error is not None else None if job.result is None else outputs_of(job.result)
            for job in jobs
        ]

    def alone(self, job: Job[Any]) -> dict[str, np.ndarray]:
        """The same request the way it runs without merging."""
        return outputs_of(job.work(ort.RunOptions()))


@pytest.fixture
def served() -> Iterator[Callable[..., Served]]:
    made: list[Served] = []

    def make(model_path: Path, name: str = "model") -> Served:
        made.append(Served(model_path, name))
        return made[-1]

    yield make
    for one in made:
        one.loop.close()


def outputs_of(result: tuple[bytes, int | None]) -> dict[str, np.ndarray]:
    payload, header_length = result
    assert header_length is None
    return {
        out["name"]: np.asarray(out["data"]).reshape(out["shape"]) for out in json.loads(payload)["outputs"]
    }


def matrix(name: str, rows: int, width: int, seed: int) -> list[dict[str, Any]]:
    """One FP32 input of random values."""
    data = np.random.default_rng(seed).standard_normal((rows, width)).astype(np.float32)
    return [{"name": name, "shape": [rows, width], "datatype": "FP32", "data": data.ravel().tolist()}]


def features(rows: int, seed: int) -> list[dict[str, Any]]:
    """Rows for the GradientBoosting model."""
    return matrix(INPUT_NAME, rows, FEATURES, seed)


def test_requests_of_a_batch_run_once_and_each_gets_its_own_rows(
    served: Callable[..., Served], gradient_boosting: GradientBoostingFiles
) -> None:
    gb = served(gradient_boosting.model_path)
    jobs = [gb.job(features(rows, seed)) for seed, rows in enumerate([1, 2, 3, 1, 4])]
    expected = [gb.alone(job) for job in jobs]
    gb.runs.clear()

    outcomes = gb.merge(jobs)

    assert gb.runs == [11, 1], "one merged run, and the lone run of its first request that checks it"
    for outcome, want in zip(outcomes, expected, strict=True):
        assert outcome.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(outcome[name], want[name])


def test_the_feedback_store_keeps_each_request_its_own_predictions(
    served: Callable[..., Served], gradient_boosting: GradientBoostingFiles
) -> None:
    gb = served(gradient_boosting.model_path)
    jobs = [gb.job(features(rows, n), request_id=f"r{n}") for n, rows in enumerate([2, 1, 3])]

    outcomes = gb.merge(jobs)

    assert gb.runs[0] == 6
    store = gb.dataplane.store
    assert store is not None
    for n, outcome in enumerate(outcomes):
        stored = store.take(f"r{n}")
        assert not isinstance(stored, str), stored
        kept = np.asarray(stored.values, dtype=np.float32)
        np.testing.assert_array_equal(kept, outcome["variable"].ravel().astype(np.float32))


def test_only_the_first_merged_runs_are_checked_against_a_lone_run(
    served: Callable[..., Served], gradient_boosting: GradientBoostingFiles
) -> None:
    gb = served(gradient_boosting.model_path)
    merger = RowMerger(gb.dataplane, 64)
    for batch in range(CHECKED_RUNS + 2):
        gb.merge([gb.job(features(1, 10 * batch + n)) for n in range(3)], merger=merger)
    assert gb.runs == [3, 1] * CHECKED_RUNS + [3, 3]


def test_max_rows_starts_a_new_run_and_a_refused_request_is_answered_alone(
    served: Callable[..., Served], gradient_boosting: GradientBoostingFiles
) -> None:
    gb = served(gradient_boosting.model_path)
    wrong = [{"name": INPUT_NAME, "shape": [1, FEATURES], "datatype": "FP64", "data": [0.0] * FEATURES}]
    jobs = [gb.job(features(2, 1)), gb.job(wrong), gb.job(features(2, 2)), gb.job(features(2, 3))]

    outcomes = gb.merge(jobs, max_rows=4)

    assert isinstance(outcomes[1], BadRequest) and "FP64" in str(outcomes[1])
    assert gb.runs == [4, 2, 2], "rows 2+2, checked by the first alone; then the last request alone"
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job is not jobs[1]:
            np.testing.assert_array_equal(outcome["variable"], gb.alone(job)["variable"])


def test_a_request_whose_values_the_model_refuses_gets_its_400_and_merging_goes_on(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    """Gather with an index out of range fails the merged run: each request runs alone, the bad one gets
    its own 400, and the model is still merged afterwards (the failure was the input's)."""
    index = helper.make_tensor_value_info("index", TensorProto.INT64, ["batch"])
    picked = helper.make_tensor_value_info("picked", TensorProto.FLOAT, ["batch", 2])
    table = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "index"], ["picked"])], "lookup", [index], [picked], [table]
    )
    lookup = served(_save(graph, tmp_path / "lookup.onnx"))

    def pick(*values: int) -> Job[Any]:
        return lookup.job(
            [{"name": "index", "shape": [len(values)], "datatype": "INT64", "data": list(values)}]
        )

    merger = RowMerger(lookup.dataplane, 64)

    outcomes = lookup.merge([pick(0, 1), pick(7), pick(2)], merger=merger)

    assert isinstance(outcomes[1], BadRequest) and "the model rejected the inputs" in str(outcomes[1])
    assert outcomes[0]["picked"].tolist() == [[0, 1], [2, 3]]
    assert outcomes[2]["picked"].tolist() == [[4, 5]]
    lookup.runs.clear()
    lookup.merge([pick(2), pick(1)], merger=merger)
    assert lookup.runs == [2, 1], "still merged"


def batch_mean_model(path: Path) -> Path:
    """y = x - mean of x over the batch: each row's answer depends on the other rows."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[0], keepdims=1),
        helper.make_node("Sub", ["x", "mean"], ["y"]),
    ]
    return _save(helper.make_graph(nodes, "batch_mean", [x], [y]), path)


def column_sum_model(path: Path) -> Path:
    """y = the sum of x over the batch, [1, 3] however many rows come in."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)
    return _save(helper.make_graph([node], "column_sum", [x], [y], [axes]), path)


@pytest.mark.parametrize(
    ("make", "found_out"),
    [
        (make_gram_model, "differs when run with others"),  # x·xᵀ: [n, n], its shape follows the batch
        (batch_mean_model, "differs when run with others"),  # the same shape, other values
        (column_sum_model, "outputs of shapes [[1, 3]] for 5 rows"),  # not one row per input row
    ],
)
def test_a_model_that_mixes_rows_is_found_out_and_no_longer_merged(
    served: Callable[..., Served],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], Path],
    found_out: str,
) -> None:
    mixer = served(make(tmp_path / "model.onnx"))
    merger = RowMerger(mixer.dataplane, 64)
    jobs = [mixer.job(matrix("x", rows, 3, seed)) for seed, rows in enumerate([2, 3])]
    expected = [mixer.alone(job) for job in jobs]

    with caplog.at_level(logging.WARNING, logger="ferryman_serving.merging"):
        outcomes = mixer.merge(jobs, merger=merger)

    for outcome, want in zip(outcomes, expected, strict=True):
        (name,) = want
        np.testing.assert_allclose(outcome[name], want[name], rtol=1e-6)
    assert found_out in caplog.text and "FERRYMAN_MERGE_MAX_ROWS" in caplog.text
    mixer.runs.clear()
    mixer.merge([mixer.job(matrix("x", 2, 3, 7)), mixer.job(matrix("x", 2, 3, 8))], merger=merger)
    assert mixer.runs == [2, 2], "each alone from then on"


def test_a_model_that_fails_on_merged_rows_but_not_alone_is_no_longer_merged(
    served: Callable[..., Served], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """make_failing_model reshapes its input to [1, 20]: one row alone works, two merged rows fail."""
    single = served(make_failing_model(tmp_path / "single.onnx"))
    zero_row = [{"name": INPUT_NAME, "shape": [1, FEATURES], "datatype": "FP32", "data": [0.0] * FEATURES}]

    merger = RowMerger(single.dataplane, 64)

    with caplog.at_level(logging.WARNING, logger="ferryman_serving.merging"):
        outcomes = single.merge([single.job(zero_row), single.job(zero_row)], merger=merger)

    assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
    assert "a merged run failed where each request alone succeeded" in caplog.text
    single.runs.clear()
    single.merge([single.job(zero_row), single.job(zero_row)], merger=merger)
    assert single.runs == [1, 1]


def test_a_time_limit_stops_the_merged_run_and_the_other_requests_run_alone(
    served: Callable[..., Served], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The loop expires a request (its 504) while it computes merged with another: the merged run is told to
    stop, the other request runs alone, and merging stays on (the failure was the time limit)."""
    slow = served(make_slow_model(tmp_path / "slow.onnx", size=1200))  # about 0.1 s a run
    merger = RowMerger(slow.dataplane, 64)
    for seed in range(CHECKED_RUNS):  # past the checked runs: a finished merged run is then the only run
        slow.merge([slow.job(features(1, seed)), slow.job(features(1, seed + 10))], merger=merger)
    slow.runs.clear()
    late, other = slow.job(features(1, 1)), slow.job(features(1, 2))
    worker = threading.Thread(target=slow.merge, args=([late, other],), kwargs={"merger": merger})

    with caplog.at_level(logging.WARNING, logger="ferryman_serving.merging"):
        worker.start()
        while not slow.runs:
            time.sleep(0.001)
        late.expire("late")
        worker.join(timeout=30)

    assert slow.runs == [2, 1], "the merged run, stopped; then the other request alone"
    assert late.result is None and late.error is None
    assert isinstance(late.waiter.exception(), TimedOut)
    assert other.error is None and other.result is not None
    assert "no longer merged" not in caplog.text


def test_a_model_with_a_fixed_first_dimension_is_never_merged(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    fixed = served(
        _save(
            helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "one", [x], [y]),
            tmp_path / "m.onnx",
        )
    )

    fixed.merge([fixed.job(matrix("x", 1, 3, seed)) for seed in range(3)])

    assert fixed.runs == [1, 1, 1]


def test_expired_requests_and_other_work_pass_through(
    served: Callable[..., Served], gradient_boosting: GradientBoostingFiles
) -> None:
    gb = served(gradient_boosting.model_path)
    late = gb.job(features(1, 1))
    late.expired = True  # answered 504 on the loop while it waited
    other: Job[Any] = Job(lambda _: "scored", gb.loop.create_future())  # feedback work, say
    jobs = [late, gb.job(features(1, 2)), other, gb.job(features(1, 3))]

    handed_back: list[Job[Any]] = []
    RowMerger(gb.dataplane, 64)(jobs, handed_back.append)

    assert len(handed_back) == 4
    assert late.result is None and late.error is None
    assert other.result == "scored"
    assert gb.runs == [2, 1], "the two infer requests merged (and checked), the other work run as it is"


def test_a_server_merging_rows_answers_each_of_many_concurrent_requests_with_its_own_rows(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    session = ort.InferenceSession(str(gradient_boosting.model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    requests = [
        rng.standard_normal((int(rng.integers(1, 5)), FEATURES)).astype(np.float32) for _ in range(400)
    ]
    with ServingProcess(
        logs_dir,
        model_uri=f"file://{gradient_boosting.model_path}",
        model_name="fraud",
        merge_max_rows="16",
        drain_seconds="0",
    ) as server:
        server.wait_ready()
        url = f"{server.url}/v2/models/fraud/infer"

        def infer(rows: np.ndarray) -> np.ndarray:
            inputs = [
                {
                    "name": INPUT_NAME,
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "data": rows.ravel().tolist(),
                }
            ]
            with httpx.Client(timeout=30) as client:
                answer = client.post(url, json={"inputs": inputs})
            assert answer.status_code == 200, answer.text
            out = answer.json()["outputs"][0]
            return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(infer, requests))
        metrics = httpx.get(f"{server.url}/metrics").text
        logs = server.logs()

    for rows, answer in zip(requests, answers, strict=True):
        (expected,) = session.run(None, {INPUT_NAME: rows})
        np.testing.assert_array_equal(answer, expected)
    total_rows = sum(len(rows) for rows in requests)
    assert f'ferryman_prediction_bucket{{le="+Inf",model="fraud",version="1"}} {total_rows}.0' in metrics
    assert "no longer merged" not in logs
