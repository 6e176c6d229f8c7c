"""engine: spark: the batch scoring function as a Spark job.

`mapInPandas` hands each Python worker its partitions as pandas frames built from Arrow batches; each
frame goes through the same `BatchScorer.score` as the Job engine. The scorer (one ONNX Runtime session)
is created once per Python worker process and kept for every later partition: Spark reuses its Python
workers (spark.python.worker.reuse, on by default), so an executor opens one session per core it runs
tasks on, not one per partition. The model URI must be readable from the executors (a shared path,
https://, s3:// or models:/ with the FERRYMAN_* registry settings in the executors' environment).

Output: Spark writes the scored rows with its own commit protocol (`_SUCCESS` last). The Ferryman manifest
and batch drift histograms are written by the Job engine only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ferryman_serving.batch.run import LoadedModel, ShardJob, load_model
from ferryman_serving.batch.scoring import BatchScorer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class SparkScoring:
    """What every executor needs to build its scorer (pickled into the tasks)."""

    model_uri: str
    features: tuple[str, ...]
    passthrough: tuple[str, ...]
    intra_op_threads: int = 1


_SCORERS: dict[SparkScoring, BatchScorer] = {}


def scorer_for(scoring: SparkScoring) -> BatchScorer:
    """This process's scorer for the model, created on first use (one session per Python worker)."""
    scorer = _SCORERS.get(scoring)
    if scorer is None:
        loaded: LoadedModel = load_model(
            ShardJob(scoring.model_uri, "", "", "spark", intra_op_threads=scoring.intra_op_threads)
        )
        scorer = BatchScorer(loaded.model, loaded.profile, scoring.features or None, scoring.passthrough)
        _SCORERS[scoring] = scorer
    return scorer


def score_frames(scoring: SparkScoring, frames: Iterator[Any]) -> Iterator[Any]:
    """The mapInPandas function: pandas frames in, scored pandas frames out."""
    scorer = scorer_for(scoring)
    for frame in frames:
        batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
        yield scorer.score(batch).to_pandas()


def score_dataframe(
    frame: DataFrame, model_uri: str, features: Sequence[str] = (), passthrough: Sequence[str] = ()
) -> DataFrame:
    """`frame` scored: pass-through columns, then the model's output columns (as in the Job engine)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    scoring = SparkScoring(model_uri, tuple(features), tuple(passthrough))
    scorer = scorer_for(scoring)
    selected = frame.select(*scorer.input_columns)
    sample = pa.RecordBatch.from_pandas(selected.limit(1).toPandas(), preserve_index=False)
    schema = from_arrow_schema(scorer.output_schema(sample))
    return selected.mapInPandas(lambda frames: score_frames(scoring, frames), schema)


def run_spark_job(
    model_uri: str,
    input_uri: str,
    output_uri: str,
    features: Sequence[str],
    passthrough: Sequence[str],
    master: str,
) -> int:
    """Read Parquet (or CSV, by suffix), score, write Parquet; returns the number of rows written."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("ferryman-batch")
    if master.startswith("local"):
        # Local workers run on this machine: this interpreter has ferryman_serving (the PATH's python3
        # might not). On a cluster the executors' image decides (PYSPARK_PYTHON there).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    try:
        reader = spark.read
        if input_uri.endswith(".csv"):
            source = reader.option("header", True).option("inferSchema", True).csv(input_uri)
        else:
            source = reader.parquet(input_uri)
        scored = score_dataframe(source, model_uri, features, passthrough)
        scored.write.mode("overwrite").parquet(output_uri)
        return int(spark.read.parquet(output_uri).count())
    finally:
        spark.stop()
