"""engine: spark: the same dataset through pyspark in local mode gives the Job engine's answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ferryman_serving.batch.manifest import BatchManifest
from ferryman_serving.batch.run import ShardJob, run_shard
from ferryman_testing.models import FEATURES, GradientBoostingFiles, make_gradient_boosting_model

pytestmark = [pytest.mark.spark, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> GradientBoostingFiles:
    return make_gradient_boosting_model(tmp_path_factory.mktemp("model"), trees=50)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 rows in three Parquet parts with an id column."""
    directory = tmp_path_factory.mktemp("input")
    rng = np.random.default_rng(3)
    first = 0
    for index, rows in enumerate([9000, 7000, 4000]):
        values = rng.normal(0.0, 1.0, (rows, FEATURES)).astype(np.float32)
        columns = {"id": pa.array(np.arange(first, first + rows, dtype=np.int64))}
        columns.update({f"f{i}": pa.array(values[:, i]) for i in range(FEATURES)})
        pq.write_table(pa.table(columns), directory / f"part-{index}.parquet", row_group_size=3000)
        first += rows
    return directory


def job_engine_answers(model: GradientBoostingFiles, dataset: Path, output: Path) -> pa.Table:
    job = ShardJob(model.model_path.as_uri(), str(dataset), str(output), "job", passthrough=["id"])
    run_shard(job)
    manifest = BatchManifest.model_validate_json((output / "manifest.json").read_bytes())
    return pa.concat_tables(pq.read_table(output / p) for p in manifest.parts).sort_by("id")


def test_spark_local_gives_the_job_engines_answers(
    model: GradientBoostingFiles, dataset: Path, tmp_path: Path
) -> None:
    """`ferryman batch score --engine spark` (local[2], mapInPandas) writes every row once, with
    predictions equal bit for bit to the Job engine's."""
    command = [
        str(Path(sys.executable).with_name("ferryman")), "batch", "score", "--engine", "spark",
        "--spark-master", "local[2]", "--model", model.model_path.as_uri(), "--input", str(dataset),
        "--output", str(tmp_path / "spark"), "--passthrough", "id",
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=280, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "scored 20000 rows with Spark" in finished.stdout
    from_spark = pq.read_table(tmp_path / "spark").sort_by("id")
    expected = job_engine_answers(model, dataset, tmp_path / "job")
    assert from_spark.column("id").to_pylist() == list(range(20000))
    np.testing.assert_array_equal(
        from_spark.column("variable").to_numpy(), expected.column("variable").to_numpy()
    )


def test_the_spark_on_kubernetes_example_application_gives_the_job_engines_answers(
    model: GradientBoostingFiles, dataset: Path, tmp_path: Path
) -> None:
    """examples/spark-on-kubernetes/score_with_ferryman.py, the application spark-submit.sh submits, run
    here on local[2] (the master comes from PYSPARK_SUBMIT_ARGS as it would from spark-submit)."""
    example = Path(__file__).parents[2] / "examples" / "spark-on-kubernetes" / "score_with_ferryman.py"
    master = {"PYSPARK_SUBMIT_ARGS": "--master local[2] pyspark-shell", "PYSPARK_PYTHON": sys.executable}
    environment = {**os.environ, **master}
    command = [
        sys.executable, str(example), "--model", model.model_path.as_uri(), "--input", str(dataset),
        "--output", str(tmp_path / "spark"), "--passthrough", "id",
    ]  # fmt: skip
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=280, check=False, env=environment
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    from_spark = pq.read_table(tmp_path / "spark").sort_by("id")
    expected = job_engine_answers(model, dataset, tmp_path / "job")
    assert from_spark.column("id").to_pylist() == list(range(20000))
    np.testing.assert_array_equal(
        from_spark.column("variable").to_numpy(), expected.column("variable").to_numpy()
    )
