"""The batch input: one Parquet or CSV file, or a directory (an S3 prefix) of parts, read with pyarrow
through the filesystem storage.py resolved.

A directory is read recursively; files whose name starts with `_` or `.` (Spark's `_SUCCESS`, Hive's
`_metadata`, editors' dot files) are not data, as in Spark and pyarrow.dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ferryman_serving.batch.shards import InputFile, WorkUnit
from ferryman_serving.batch.storage import DATA_SUFFIXES, INPUT_FIELD, BatchInputError, Place

__all__ = ["BatchInputError", "InputListing", "empty_batch_of", "list_input", "read_ahead", "read_unit"]


@dataclass(frozen=True)
class InputListing:
    """The data files of the input, sorted by path, in their filesystem."""

    filesystem: pafs.FileSystem
    files: list[pafs.FileInfo]
    content_sha256: str | None = None  # a downloaded https file: its content's digest

    def layouts(self) -> list[InputFile]:
        return [layout_of(self.filesystem, info.path) for info in self.files]

    def fingerprint(self) -> str:
        """sha256 over each file's name, size and modification time: changes when the data changes,
        without reading terabytes (the same rule as make and rsync). For an https file, whose local copy
        is new in every shard, its content's SHA-256 stands for the time."""
        digest = hashlib.sha256()
        for info in self.files:
            version = self.content_sha256 or str(info.mtime_ns)
            digest.update(f"{info.base_name}\0{info.size}\0{version}\n".encode())
        return "sha256:" + digest.hexdigest()


def list_input(place: Place) -> InputListing:
    """The data files of the input; a single file is its own listing."""
    filesystem = place.filesystem
    try:
        root = filesystem.get_file_info(place.path)
        if root.type == pafs.FileType.File:
            return InputListing(filesystem, [root], place.content_sha256)
        if root.type != pafs.FileType.Directory:
            raise BatchInputError(f"{INPUT_FIELD}: {place.uri} does not exist")
        listed = filesystem.get_file_info(pafs.FileSelector(place.path, recursive=True))
    except OSError as error:
        raise BatchInputError(f"{INPUT_FIELD}: cannot list {place.uri}: {error}") from None
    prefix = root.path.rstrip("/") + "/"
    files = sorted(
        (
            info
            for info in listed
            if info.type == pafs.FileType.File
            and info.path.endswith(DATA_SUFFIXES)
            and not _hidden(info.path.removeprefix(prefix))
        ),
        key=lambda info: info.path,
    )
    if not files:
        raise BatchInputError(f"{INPUT_FIELD}: {place.uri} holds no .parquet or .csv file")
    return InputListing(filesystem, files)


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _is_csv(path: str) -> bool:
    return path.endswith(".csv")


def _read_csv(filesystem: pafs.FileSystem, path: str) -> pa.Table:
    with filesystem.open_input_stream(path) as stream:
        return pa_csv.read_csv(stream)


def layout_of(filesystem: pafs.FileSystem, path: str) -> InputFile:
    """Row count per row group (a CSV file is counted once, as one group). Parquet: the footer only."""
    with naming_the_file(path):
        if _is_csv(path):
            return InputFile(path, (_read_csv(filesystem, path).num_rows,))
        with filesystem.open_input_file(path) as source:
            metadata = pq.ParquetFile(source).metadata
    return InputFile(path, tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)))


@contextlib.contextmanager
def naming_the_file(path: str) -> Iterator[None]:
    """pyarrow's errors ("Parquet file size is 7 bytes", "CSV parse error") do not say which file."""
    try:
        yield
    except (pa.ArrowInvalid, OSError) as error:
        raise BatchInputError(f"{INPUT_FIELD}: cannot read {path}: {error}") from None


def read_unit(
    filesystem: pafs.FileSystem, unit: WorkUnit, columns: list[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The unit's rows as record batches of at most batch_rows rows, in file order."""
    if _is_csv(unit.path):
        with naming_the_file(unit.path):
            table = _read_csv(filesystem, unit.path)
        if columns:  # as Parquet reads do: columns the file lacks are left out, and the scorer names them
            table = table.select([name for name in columns if name in table.column_names])
        yield from table.to_batches(batch_rows)
        return
    # A random-access file: on S3 each read is a ranged GET, so only the unit's row groups are fetched.
    with naming_the_file(unit.path), filesystem.open_input_file(unit.path) as source:
        parquet = pq.ParquetFile(source)
        groups = list(unit.row_groups) if unit.row_groups is not None else list(range(parquet.num_row_groups))
        if groups:
            yield from parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns)


_END = object()


def read_ahead(batches: Iterable[pa.RecordBatch], depth: int = 2) -> Generator[pa.RecordBatch]:
    """The batches, read by a thread up to `depth` ahead: Parquet decoding and session.run both release
    the GIL, so reading the next batch overlaps scoring this one. Reader errors reach the consumer.

    Closing the iterator (the consumer failed) stops the reader and waits for it: a reader thread still
    inside pyarrow when the process exits aborted it (exit code 134 instead of the error's own code).
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
        except BaseException as error:  # handed to the consumer, who raises it
            hand_over(error)
        hand_over(_END)

    reader = threading.Thread(target=produce, name="batch-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def empty_batch_of(filesystem: pafs.FileSystem, path: str, columns: list[str] | None) -> pa.RecordBatch:
    """No rows, with the file's columns (those named, when given): the schema of an input without rows.

    A CSV file with only its header types its columns null; they are read as float64, as numbers are.
    A named column the file lacks is left out, for the scorer to name as missing.
    """
    if _is_csv(path):
        schema = _read_csv(filesystem, path).schema
    else:
        with filesystem.open_input_file(path) as source:
            schema = pq.ParquetFile(source).schema_arrow
    names = [name for name in columns if name in schema.names] if columns else schema.names
    fields = [schema.field(name) for name in names]
    typed = [field.with_type(pa.float64()) if pa.types.is_null(field.type) else field for field in fields]
    return pa.RecordBatch.from_pylist([], schema=pa.schema(typed))
