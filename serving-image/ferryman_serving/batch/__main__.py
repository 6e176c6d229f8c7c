"""`python -m ferryman_serving.batch score ...` (also `ferryman batch score ...`): score a dataset.

In an Indexed Job, the shard index defaults to JOB_COMPLETION_INDEX, which Kubernetes sets in each pod.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ferryman_serving.batch.run import DEFAULT_BATCH_ROWS, ShardJob, run_shard
from ferryman_serving.batch.scoring import BatchScoringError
from ferryman_serving.batch.storage import BatchInputError
from ferryman_serving.logs import configure_logging
from ferryman_serving.sources import ModelSourceError

log = logging.getLogger("ferryman_serving.batch")


class JobEnvironment(BaseSettings):
    """What Kubernetes tells an Indexed Job's pod about itself."""

    model_config = SettingsConfigDict(extra="ignore")

    job_completion_index: int | None = Field(
        default=None, ge=0, description="This pod's shard (set by Kubernetes)."
    )


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a count: use 1 or more")
    return value


# The run id names a directory under the output (_shards/<run id>/) and, on the cluster, is the Job's name.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


def _run_id(text: str) -> str:
    if not _RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: letters, digits, '.', '_' and '-', starting with a letter or digit (it names a "
            "directory in the output)"
        )
    return text


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ferryman batch", description="Score a dataset with an ONNX model.")
    commands = root.add_subparsers(required=True, metavar="COMMAND")
    score = commands.add_parser(
        "score", help="score a Parquet/CSV file or directory; writes parts + manifest"
    )
    score.add_argument(
        "--model", required=True, help="model URI: file path, file://, https://, s3://, models:/N/V"
    )
    score.add_argument(
        "--input", required=True, help="a .parquet/.csv file or directory: path, s3://, or one https:// file"
    )
    score.add_argument(
        "--output", required=True, help="output directory, path or s3:// (parts, then manifest.json)"
    )
    score.add_argument(
        "--shards", type=_at_least_one, default=1, help="number of shards of this run (default 1)"
    )
    # One or the other: with both, --all-shards used to win silently.
    which_shards = score.add_mutually_exclusive_group()
    which_shards.add_argument(
        "--shard-index",
        type=int,
        default=None,
        help="this shard (default JOB_COMPLETION_INDEX; needed with --shards > 1)",
    )
    which_shards.add_argument(
        "--all-shards", action="store_true", help="run every shard in turn in this process"
    )
    score.add_argument(
        "--run-id",
        type=_run_id,
        default="manual",
        help="names the run; a new id replaces the previous result",
    )
    score.add_argument(
        "--features", type=_csv_list, default=[], help="feature columns in order (default: profile)"
    )
    score.add_argument("--passthrough", type=_csv_list, default=[], help="input columns copied to the output")
    score.add_argument(
        "--batch-rows", type=_at_least_one, default=DEFAULT_BATCH_ROWS, help="rows per session.run"
    )
    score.add_argument("--threads", type=_at_least_one, default=1, help="ONNX Runtime intra-op threads")
    score.add_argument("--engine", choices=["job", "spark"], default="job", help="job (default) or spark")
    score.add_argument("--spark-master", default="local[*]", help="engine spark: the Spark master URL")
    score.add_argument(
        "--model-version", default="", help="version recorded in the manifest (default: registry's)"
    )
    return root


def _shard_indices(options: argparse.Namespace) -> list[int]:
    if options.all_shards:
        return list(range(options.shards))
    index = options.shard_index
    if index is None:
        index = JobEnvironment().job_completion_index
    if index is None:
        if options.shards > 1:
            # Scoring shard 0 alone, as before, wrote one part and no manifest, and said nothing.
            raise ValueError(
                f"--shards {options.shards} needs the shard to score: --shard-index N (one process per "
                "shard), --all-shards (every shard in this process), or JOB_COMPLETION_INDEX (an Indexed Job)"
            )
        index = 0
    return [index]


def _jobs(options: argparse.Namespace) -> list[ShardJob]:
    indices = _shard_indices(options)
    return [
        ShardJob(
            model_uri=options.model,
            input_uri=options.input,
            output_uri=options.output,
            run_id=options.run_id,
            shards=options.shards,
            index=index,
            features=options.features,
            passthrough=options.passthrough,
            batch_rows=options.batch_rows,
            intra_op_threads=options.threads,
            model_version=options.model_version,
        )
        for index in indices
    ]


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging("INFO")
    options = parser().parse_args(argv)
    try:
        if options.engine == "spark":
            return _run_spark(options)
        for job in _jobs(options):
            manifest = run_shard(job)
            if manifest is not None:
                print(
                    f"scored {manifest.rows} rows with version {manifest.model_version} into {options.output}"
                )
            elif not options.all_shards:
                print(
                    f"scored shard {job.index} of {job.shards}; the manifest is written when every shard of "
                    f"run {job.run_id!r} has been scored"
                )
    except (BatchInputError, BatchScoringError, ModelSourceError, ValueError) as error:
        log.error("batch scoring failed", extra={"error": str(error)})
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _run_spark(options: argparse.Namespace) -> int:
    from ferryman_serving.batch.spark import run_spark_job

    rows = run_spark_job(
        options.model,
        options.input,
        options.output,
        options.features,
        options.passthrough,
        options.spark_master,
    )
    print(f"scored {rows} rows with Spark ({options.spark_master}) into {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
