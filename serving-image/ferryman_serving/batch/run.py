"""One shard of a batch run: plan, load the model, score the shard's units, write its part and summary,
and, if it is the last shard to finish, the manifest."""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from ferryman_serving.batch.dataset import InputListing, empty_batch_of, list_input, read_ahead, read_unit
from ferryman_serving.batch.manifest import MANIFEST_FILENAME, BatchManifest, ShardSummary, build_manifest
from ferryman_serving.batch.output import (
    PartFile,
    forget_other_runs_manifest,
    part_name,
    prepare,
    read_summaries,
    remove_stale_files,
    summary_place,
    write_atomically,
)
from ferryman_serving.batch.scoring import BatchScorer
from ferryman_serving.batch.shards import WorkUnit, shard_of
from ferryman_serving.batch.storage import OUTPUT_FIELD, BatchInputError, Place, input_place, output_place
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


def run_shard(job: ShardJob, loaded: LoadedModel | None = None) -> BatchManifest | None:
    """Score shard job.index; returns the manifest when this shard completed the run."""
    started = time.time()
    output = output_place(job.output_uri, job.settings)
    with input_place(job.input_uri, job.settings) as source:
        _refuse_output_inside_input(source, output)
        listing = list_input(source)
        units = shard_of(listing.layouts(), job.shards, job.index)
        loaded = loaded or load_model(job)
        prepare(output)
        forget_other_runs_manifest(output, job.run_id)
        scorer = BatchScorer(loaded.model, loaded.profile, job.features or None, job.passthrough)
        part = PartFile(output, part_name(job.index, job.shards))
        timings = _score_units(scorer, listing, units, part, job.batch_rows)
    summary = ShardSummary(
        run_id=job.run_id, index=job.index, shards=job.shards, part=part_name(job.index, job.shards),
        rows=scorer.rows, model_uri=redact(job.model_uri), model_version=loaded.version,
        input_fingerprint=listing.fingerprint(), started_at=started, finished_at=time.time(),
        read_seconds=timings[0], score_seconds=timings[1], write_seconds=timings[2],
        feature_counts=_feature_counts(scorer), prediction_counts=_prediction_counts(scorer),
    )  # fmt: skip
    write_atomically(summary_place(output, job.run_id, job.index), summary.model_dump_json())
    log.info("shard scored", extra={"run": job.run_id, "shard": job.index, "rows": scorer.rows})
    return _manifest_if_complete(output, job, loaded.profile, source.uri)


def _refuse_output_inside_input(source: Place, output: Place) -> None:
    # The first run worked; the next one read the first one's parts as input (and failed on their columns).
    input_path, output_path = posixpath.normpath(source.path), posixpath.normpath(output.path)
    inside = output_path == input_path or output_path.startswith(input_path.rstrip("/") + "/")
    if inside and source.filesystem.type_name == output.filesystem.type_name:
        raise BatchInputError(
            f"{OUTPUT_FIELD}: {output.uri} is inside the input {source.uri}; the next run would read this "
            "run's output as input: choose an output outside it"
        )


def _score_units(
    scorer: BatchScorer, listing: InputListing, units: list[WorkUnit], part: PartFile, batch_rows: int
) -> tuple[float, ...]:
    """Score the units into part; returns seconds waiting for input, scoring and writing."""
    read = score = write = 0.0
    filesystem: pafs.FileSystem = listing.filesystem
    columns = scorer.input_columns
    batches = read_ahead(b for unit in units for b in read_unit(filesystem, unit, columns, batch_rows))
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
            part.write(scored)
            score, write = score + t2 - t1, write + time.perf_counter() - t2
        if not part.started:  # an empty shard still writes its (empty) part, so every part exists
            part.start(scorer.output_schema(empty_batch_of(filesystem, listing.files[0].path, columns)))
        part.commit()
    except BaseException:
        part.discard()
        raise
    finally:
        batches.close()
    return round(read, 3), round(score, 3), round(write, 3)


def _feature_counts(scorer: BatchScorer) -> dict[str, list[int]]:
    counts = scorer.feature_counts
    if counts is None or scorer.profile is None:
        return {}
    return {f.name: counts.of(i) for i, f in enumerate(scorer.profile.features)}


def _prediction_counts(scorer: BatchScorer) -> list[int] | None:
    return scorer.prediction_counts.of(0) if scorer.prediction_counts is not None else None


def _manifest_if_complete(
    output: Place, job: ShardJob, profile: ReferenceProfile | None, input_uri: str
) -> BatchManifest | None:
    summaries = [s for s in read_summaries(output, job.run_id) if s.shards == job.shards]
    if len({s.index for s in summaries}) < job.shards:
        return None
    manifest = build_manifest(summaries, input_uri, profile)
    remove_stale_files(output, job.run_id, set(manifest.parts))
    # Two shards finishing together may both get here; both write the same parts, rows and counts.
    write_atomically(output.child(MANIFEST_FILENAME), manifest.model_dump_json(indent=1))
    return manifest
