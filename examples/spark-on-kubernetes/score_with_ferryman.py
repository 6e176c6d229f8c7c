"""Score a Parquet dataset with a Ferryman model from a PySpark application of your own, on any Spark
master: Kubernetes (spark-submit.sh, sparkapplication.yaml beside this file), YARN, or local.

    spark-submit --master k8s://https://API-SERVER:6443 --deploy-mode cluster ... \\
        local:///opt/ferryman/score_with_ferryman.py \\
        --model models:/churn/6 --input s3a://data/customers/ --output s3a://data/churn-scores/ \\
        --passthrough id

`score_dataframe` runs Ferryman's batch scorer in `mapInPandas`: one ONNX Runtime session per Python
worker, the online server's session options and input datatypes (docs/batch.md). The model is loaded by
the driver (for the output schema) and by every executor, from the FERRYMAN_* settings in their
environment (FERRYMAN_MLFLOW_TRACKING_URI for models:/, FERRYMAN_S3_* for s3://). Input and output are
whatever URIs your Spark reads and writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from ferryman_serving.batch.spark import score_dataframe


def _columns(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a Parquet dataset with a Ferryman model on Spark.")
    parser.add_argument("--model", required=True, help="pinned model URI, e.g. models:/churn/6")
    parser.add_argument("--input", required=True, help="Parquet file or directory Spark can read")
    parser.add_argument("--output", required=True, help="directory for the scored Parquet (overwritten)")
    parser.add_argument("--features", type=_columns, default=[], help="feature columns (default: profile)")
    parser.add_argument("--passthrough", type=_columns, default=[], help="input columns copied to the output")
    options = parser.parse_args(argv)
    # The master and its settings come from spark-submit (or PYSPARK_SUBMIT_ARGS), not from this file.
    spark = SparkSession.builder.appName("ferryman-batch").getOrCreate()
    try:
        frame = spark.read.parquet(options.input)
        scored = score_dataframe(frame, options.model, options.features, options.passthrough)
        scored.write.mode("overwrite").parquet(options.output)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
