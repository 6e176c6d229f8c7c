"""Batch scoring throughput: rows/s for a dataset of 20-feature rows and the GradientBoosting model.

    .venv/bin/python bench/batch.py [--rows 1000000] [--sample 2000] [--skip-spark]

Builds the GradientBoosting model of the serving benchmarks (100 trees, 20 features, skl2onnx) and a
Parquet dataset (8 parts, 128k-row row groups), then measures, each on one ONNX Runtime thread per process:
- raw: `session.run` on 64k-row batches of an in-memory matrix (no I/O): the per-core reference;
- batch function in-process: `run_shard` with the model loaded (read, score, write, manifest);
- batch, one process: `ferryman batch score` (the same plus process start and model load);
- batch, 2 shards: two shard processes at once (the Indexed Job's pods), wall time of both;
- spark: `--engine spark --spark-master local[2]` (JVM start included, and reported apart);
- anchors, on a sample of rows and extrapolated (stated as such): a pandas loop calling `session.run`
  once per row, and one HTTP request per row to a real ferryman_serving server on loopback.
Prints rows/s and the ratios the issue asks for. Noisy on a shared 2-core machine: run it alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq

from ferryman_serving.batch.run import ShardJob, load_model, run_shard
from ferryman_serving.model import session_options
from ferryman_testing.models import FEATURES, make_gradient_boosting_model
from ferryman_testing.servers import ServingProcess

PARTS = 8
BATCH_ROWS = 65536
FERRYMAN = str(Path(sys.executable).with_name("ferryman"))


def write_dataset(directory: Path, rows: int) -> np.ndarray:
    directory.mkdir(parents=True)
    matrix = np.random.default_rng(0).standard_normal((rows, FEATURES)).astype(np.float32)
    for index, chunk in enumerate(np.array_split(np.arange(rows), PARTS)):
        columns = {"id": pa.array(chunk.astype(np.int64))}
        columns.update({f"f{i}": pa.array(matrix[chunk, i]) for i in range(FEATURES)})
        pq.write_table(pa.table(columns), directory / f"part-{index}.parquet", row_group_size=131072)
    return matrix


def raw_rows_per_second(model: Path, matrix: np.ndarray) -> float:
    session = ort.InferenceSession(
        str(model), sess_options=session_options(1), providers=["CPUExecutionProvider"]
    )
    session.run(None, {"features": matrix[:BATCH_ROWS]})
    started = time.perf_counter()
    for start in range(0, len(matrix), BATCH_ROWS):
        session.run(None, {"features": matrix[start : start + BATCH_ROWS]})
    return len(matrix) / (time.perf_counter() - started)


def batch_command(model: Path, data: Path, output: Path, *extra: str) -> list[str]:
    base = [FERRYMAN, "batch", "score", "--model", str(model), "--input", str(data), "--output", str(output)]
    return [*base, "--passthrough", "id", *extra]


def timed(commands: list[list[str]]) -> float:
    """Wall seconds to run the commands at the same time."""
    started = time.perf_counter()
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    if any(p.wait() != 0 for p in processes):
        raise SystemExit(f"a command failed: {commands}")
    return time.perf_counter() - started


def spark_startup_seconds() -> float:
    code = "from pyspark.sql import SparkSession as S; S.builder.master('local[2]').getOrCreate().stop()"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def pandas_loop_rows_per_second(model: Path, matrix: np.ndarray, sample: int) -> float:
    import pandas as pd

    session = ort.InferenceSession(
        str(model), sess_options=session_options(1), providers=["CPUExecutionProvider"]
    )
    frame = pd.DataFrame(matrix[:sample], columns=[f"f{i}" for i in range(FEATURES)])
    started = time.perf_counter()
    answers = [
        session.run(None, {"features": row.to_numpy(np.float32).reshape(1, -1)})[0]
        for _, row in frame.iterrows()
    ]
    assert len(answers) == sample
    return sample / (time.perf_counter() - started)


def online_rows_per_second(model: Path, matrix: np.ndarray, sample: int, logs: Path) -> float:
    with ServingProcess(logs, model_uri=model.as_uri(), model_name="gb", log_level="WARNING") as server:
        server.wait_ready()
        with httpx.Client() as client:
            started = time.perf_counter()
            for row in matrix[:sample]:
                body = {
                    "inputs": [
                        {"name": "features", "shape": [1, FEATURES], "datatype": "FP32", "data": row.tolist()}
                    ]
                }
                client.post(f"{server.url}/v2/models/gb/infer", json=body).raise_for_status()
            return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2000, help="rows for the per-row anchors")
    parser.add_argument("--skip-spark", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        model = make_gradient_boosting_model(work / "model").model_path
        matrix = write_dataset(work / "data", options.rows)
        rows = options.rows
        results: dict[str, float] = {
            "raw session.run, 64k batches, 1 core": raw_rows_per_second(model, matrix)
        }
        job = ShardJob(str(model), str(work / "data"), str(work / "in-process"), "bench", passthrough=["id"])
        loaded = load_model(job)
        started = time.perf_counter()
        run_shard(job, loaded)
        results["batch function in-process (model loaded)"] = rows / (time.perf_counter() - started)
        one = timed([batch_command(model, work / "data", work / "one")])
        results["batch, one process"] = rows / one
        shards = [
            batch_command(model, work / "data", work / "two", "--shards", "2", "--shard-index", str(i))
            for i in range(2)
        ]
        results["batch, 2 shards (2 processes)"] = rows / timed(shards)
        if not options.skip_spark:
            startup = spark_startup_seconds()
            spark = timed(
                [
                    batch_command(
                        model,
                        work / "data",
                        work / "spark",
                        "--engine",
                        "spark",
                        "--spark-master",
                        "local[2]",
                    )
                ]
            )
            results["spark local[2], whole command"] = rows / spark
            results["spark local[2], less JVM start"] = rows / max(spark - startup, 1e-9)
            print(f"spark: JVM/session start {startup:.1f} s of {spark:.1f} s")
        results[f"pandas loop, per-row session.run (sample {options.sample}, extrapolated)"] = (
            pandas_loop_rows_per_second(model, matrix, options.sample)
        )
        results[f"online endpoint, 1 row/request (sample {options.sample}, extrapolated)"] = (
            online_rows_per_second(model, matrix, options.sample, work)
        )
    report(rows, results)


def report(rows: int, results: dict[str, float]) -> None:
    print(f"\n{rows:,} rows x {FEATURES} features, GradientBoosting 100 trees")
    for name, value in results.items():
        print(f"  {name:<70} {value:>12,.0f} rows/s")
    raw = results["raw session.run, 64k batches, 1 core"]
    one = results["batch, one process"]
    two = results["batch, 2 shards (2 processes)"]
    online = next(v for k, v in results.items() if k.startswith("online"))
    pandas_loop = next(v for k, v in results.items() if k.startswith("pandas"))
    inner = results["batch function in-process (model loaded)"]
    print(f"  batch function in-process / raw per core:    {inner / raw:.2f}  (goal >= 0.80)")
    print(f"  batch one process / raw per core:            {one / raw:.2f}")
    print(f"  batch 2 shards / (2 x raw per core):         {two / (2 * raw):.2f}")
    print(f"  batch one process / online per request:      {one / online:,.0f}x  (goal >= 100x)")
    print(f"  batch one process / pandas per-row loop:     {one / pandas_loop:,.0f}x")
    for name, value in results.items():
        if name.startswith("spark"):
            print(f"  {name} / (2 x raw per core):  {value / (2 * raw):.2f}")


if __name__ == "__main__":
    main()
