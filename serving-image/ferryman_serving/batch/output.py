"""Writing a run's output so that no reader sees a file half written, on a local volume or on S3.

Local: every file is written under a temporary name and renamed (atomic on one filesystem). S3 has no
rename, but an object appears only when its upload completes, whole; a part whose shard fails midway is
deleted, and in any case no manifest lists it. The order is the same on both: parts, then each shard's
summary, then (the last shard) the manifest, written after the stale files of other runs are gone.
"""

from __future__ import annotations

import contextlib
import os
import re

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ferryman_serving.batch.manifest import MANIFEST_FILENAME, SHARDS_DIRNAME, BatchManifest, ShardSummary
from ferryman_serving.batch.storage import OUTPUT_FIELD, BatchInputError, Place


def prepare(output: Place) -> None:
    """The output directory exists (S3 needs none: a prefix exists through its objects)."""
    if output.renames:
        try:
            output.filesystem.create_dir(output.path, recursive=True)
        except OSError as error:  # a file of that name, a read-only place: the user's to fix
            raise BatchInputError(
                f"{OUTPUT_FIELD}: cannot use {output.uri} as a directory: {error}"
            ) from None


def write_atomically(place: Place, text: str) -> None:
    """Write text to place so that a reader sees the old file or the whole new one, never a part."""
    filesystem = place.filesystem
    if not place.renames:
        with filesystem.open_output_stream(place.path) as sink:
            sink.write(text.encode())
        return
    directory, _, name = place.path.rpartition("/")
    filesystem.create_dir(directory, recursive=True)
    temporary = f"{directory}/.{name}.{os.getpid()}.tmp"
    with filesystem.open_output_stream(temporary) as sink:
        sink.write(text.encode())
    filesystem.move(temporary, place.path)


def _read_text(place: Place) -> str | None:
    if place.filesystem.get_file_info(place.path).type != pafs.FileType.File:
        return None
    with place.filesystem.open_input_stream(place.path) as source:
        return bytes(source.read()).decode()


def summary_place(output: Place, run_id: str, index: int) -> Place:
    return output.child(SHARDS_DIRNAME, run_id, f"shard-{index:05d}.json")


def _is_summary(name: str) -> bool:
    return name.startswith("shard-") and name.endswith(".json")


def part_name(index: int, shards: int) -> str:
    return f"part-{index:05d}-of-{shards:05d}.parquet"


# Only names part_name makes: Spark's and other tools' part-*.parquet in the directory are not ours to
# remove (a run over such a directory deleted them).
_PART_NAME = re.compile(r"part-[0-9]{5,}-of-[0-9]{5,}\.parquet")


def _is_part(name: str) -> bool:
    return _PART_NAME.fullmatch(name) is not None


def read_summaries(output: Place, run_id: str) -> list[ShardSummary]:
    directory = output.child(SHARDS_DIRNAME, run_id)
    listed = directory.filesystem.get_file_info(pafs.FileSelector(directory.path, allow_not_found=True))
    names = sorted(
        i.base_name for i in listed if i.base_name.startswith("shard-") and i.base_name.endswith(".json")
    )
    texts = [_read_text(directory.child(name)) for name in names]
    return [ShardSummary.model_validate_json(text) for text in texts if text is not None]


def forget_other_runs_manifest(output: Place, run_id: str) -> None:
    """A new run first removes the previous run's manifest: until this run's is written, the directory
    holds no complete result, rather than an old manifest beside new parts."""
    manifest = output.child(MANIFEST_FILENAME)
    text = _read_text(manifest)
    if text is not None and BatchManifest.model_validate_json(text).run_id != run_id:
        with contextlib.suppress(FileNotFoundError):
            output.filesystem.delete_file(manifest.path)


def remove_stale_files(output: Place, run_id: str, parts: set[str]) -> None:
    """Parts and summaries of earlier runs (say with more shards) go before the manifest appears."""
    filesystem = output.filesystem
    for info in filesystem.get_file_info(pafs.FileSelector(output.path, allow_not_found=True)):
        if _is_part(info.base_name) and info.base_name not in parts:
            with contextlib.suppress(FileNotFoundError):
                filesystem.delete_file(info.path)
    summaries = output.child(SHARDS_DIRNAME)
    for info in filesystem.get_file_info(pafs.FileSelector(summaries.path, allow_not_found=True)):
        if info.type == pafs.FileType.Directory and info.base_name != run_id:
            with contextlib.suppress(FileNotFoundError):
                filesystem.delete_dir(info.path)


class PartFile:
    """One shard's output part: written under a temporary name (local) or its own (S3); `commit` makes
    it appear whole, `discard` removes what a failed shard wrote."""

    def __init__(self, output: Place, name: str) -> None:
        self.final = output.child(name)
        self.writing = output.child(f".{name}.tmp") if output.renames else self.final
        self.writer: pq.ParquetWriter | None = None

    @property
    def started(self) -> bool:
        return self.writer is not None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            self.start(batch.schema)
        assert self.writer is not None
        self.writer.write_batch(batch)

    def start(self, schema: pa.Schema) -> None:
        # Scores and ids are nearly all distinct: dictionary encoding would be tried and dropped per page.
        self.writer = pq.ParquetWriter(
            self.writing.path, schema, filesystem=self.writing.filesystem, use_dictionary=False
        )

    def commit(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.writing.path != self.final.path:
            self.final.filesystem.move(self.writing.path, self.final.path)

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # already failing: the first error is the one to report
            if self.writer is not None:
                self.writer.close()
            self.writing.filesystem.delete_file(self.writing.path)
