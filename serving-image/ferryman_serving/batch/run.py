"""One shard of a batch run: plan, load the model, score the shard's units, write its part and summary,
and, if it is the last shard to finish, the manifest."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ferryman_serving.batch.dataset import (
    input_fingerprint,
    layout_of,
    list_input,
    local_path,
    read_ahead,
    read_unit,
)
from ferryman_serving.batch.manifest import (
    MANIFEST_FILENAME,
    SHARDS_DIRNAME,
    BatchManifest,
    ShardSummary,
    build_manifest,
    read_summaries,
    summaries_dir,
    write_atomically,
)
from ferryman_serving.batch.scoring import BatchScorer
from ferryman_serving.batch.shards import WorkUnit, shard_of
from ferryman_serving.model import OnnxModel
from ferryman_serving.profile import ReferenceProfile, load_profile
from ferryman_serving.settings import Settings
from ferryman_serving.sources import fetch_model, redact

log = logging.getLogger("ferryman_serving.batch")

# Large batches amortise session.run's fixed cost; 64k rows x 20 float32 features is 5 MB per batch.
DEFAULT_BATCH_ROWS = 65536


@dataclass(frozen=True)
class ShardJob:
    """Everything one shard needs to know."""

    model_uri: str
    input_uri: str
    output_uri: str
    run_id: str
    shards: int = 1
    index: int = 0
    features: Sequence[str] = ()
    passthrough: Sequence[str] = ()
    batch_rows: int = DEFAULT_BATCH_ROWS
    intra_op_threads: int = 1
    model_version: str = ""
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class LoadedModel:
    model: OnnxModel
    profile: ReferenceProfile | None
    version: str


def load_model(job: ShardJob) -> LoadedModel:
    """The model and its profile through the serving image's loaders (file, https, s3, models:/)."""
    settings = job.settings.model_copy(update={"model_uri": job.model_uri})
    local = fetch_model(settings)
    model = OnnxModel(local.model_path, job.intra_op_threads)
    profile = load_profile(local.profile_path) if local.profile_path else None
    return LoadedModel(model, profile, job.model_version or local.version or "1")


def part_name(index: int, shards: int) -> str:
    return f"part-{index:05d}-of-{shards:05d}.parquet"


def run_shard(job: ShardJob, loaded: LoadedModel | None = None) -> BatchManifest | None:
    """Score shard job.index; returns the manifest when this shard completed the run."""
    started = time.time()
    files = list_input(job.input_uri)
    units = shard_of([layout_of(p) for p in files], job.shards, job.index)
    fingerprint = input_fingerprint(files)
    loaded = loaded or load_model(job)
    output = local_path(job.output_uri)
    output.mkdir(parents=True, exist_ok=True)
    _forget_other_runs_manifest(output, job.run_id)
    scorer = BatchScorer(loaded.model, loaded.profile, job.features or None, job.passthrough)
    part = output / part_name(job.index, job.shards)
    timings = _score_units(scorer, units, part, job.batch_rows, _whole_first_file(files))
    summary = ShardSummary(
        run_id=job.run_id, index=job.index, shards=job.shards, part=part_name(job.index, job.shards),
        rows=scorer.rows, model_uri=redact(job.model_uri), model_version=loaded.version,
        input_fingerprint=fingerprint, started_at=started, finished_at=time.time(),
        read_seconds=timings[0], score_seconds=timings[1], write_seconds=timings[2],
        feature_counts=_feature_counts(scorer), prediction_counts=_prediction_counts(scorer),
    )  # fmt: skip
    write_atomically(
        summaries_dir(output, job.run_id) / f"shard-{job.index:05d}.json", summary.model_dump_json()
    )
    log.info("shard scored", extra={"run": job.run_id, "shard": job.index, "rows": scorer.rows})
    return _manifest_if_complete(output, job, loaded.profile)


def _whole_first_file(files: list[Path]) -> WorkUnit:
    return WorkUnit(str(files[0]), None, 0, 0)


def _score_units(
    scorer: BatchScorer, units: list[WorkUnit], part: Path, batch_rows: int, sample: WorkUnit
) -> tuple[float, ...]:
    """Score the units into part; returns seconds waiting for input, scoring and writing."""
    read = score = write = 0.0
    temporary = part.with_name(f".{part.name}.tmp")
    writer: pq.ParquetWriter | None = None
    batches = read_ahead(b for unit in units for b in read_unit(unit, scorer.input_columns, batch_rows))
    try:
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            t1 = time.perf_counter()
            read += t1 - t0
            if batch is None:
                break
            scored = scorer.score(batch)
            t2 = time.perf_counter()
            writer = writer or _part_writer(temporary, scored.schema)
            writer.write_batch(scored)
            score, write = score + t2 - t1, write + time.perf_counter() - t2
        if writer is None:  # an empty shard still writes its (empty) part, so every part exists
            first = next(read_unit(sample, scorer.input_columns, 1))
            writer = _part_writer(temporary, scorer.output_schema(first))
    finally:
        if writer is not None:
            writer.close()
    temporary.replace(part)
    return round(read, 3), round(score, 3), round(write, 3)


def _part_writer(path: Path, schema: object) -> pq.ParquetWriter:
    # Scores and ids are nearly all distinct: dictionary encoding would be tried and dropped per page.
    return pq.ParquetWriter(path, schema, use_dictionary=False)


def _feature_counts(scorer: BatchScorer) -> dict[str, list[int]]:
    counts = scorer.feature_counts
    if counts is None or scorer.profile is None:
        return {}
    return {f.name: counts.of(i) for i, f in enumerate(scorer.profile.features)}


def _prediction_counts(scorer: BatchScorer) -> list[int] | None:
    return scorer.prediction_counts.of(0) if scorer.prediction_counts is not None else None


def _forget_other_runs_manifest(output: Path, run_id: str) -> None:
    """A new run first removes the previous run's manifest: until this run's is written, the directory
    holds no complete result, rather than an old manifest beside new parts."""
    manifest = output / MANIFEST_FILENAME
    if manifest.is_file() and BatchManifest.model_validate_json(manifest.read_bytes()).run_id != run_id:
        manifest.unlink(missing_ok=True)


def _manifest_if_complete(
    output: Path, job: ShardJob, profile: ReferenceProfile | None
) -> BatchManifest | None:
    summaries = [s for s in read_summaries(output, job.run_id) if s.shards == job.shards]
    if len({s.index for s in summaries}) < job.shards:
        return None
    manifest = build_manifest(summaries, redact(job.input_uri), profile)
    _remove_stale_files(output, job.run_id, set(manifest.parts))
    # Two shards finishing together may both get here; both write the same parts, rows and counts.
    write_atomically(output / MANIFEST_FILENAME, manifest.model_dump_json(indent=1))
    return manifest


def _remove_stale_files(output: Path, run_id: str, parts: set[str]) -> None:
    """Parts and summaries of earlier runs (say with more shards) go before the manifest appears."""
    for path in output.glob("part-*.parquet"):
        if path.name not in parts:
            path.unlink(missing_ok=True)
    for directory in (output / SHARDS_DIRNAME).iterdir():
        if directory.name != run_id:
            shutil.rmtree(directory, ignore_errors=True)
