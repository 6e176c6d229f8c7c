"""The batch input on local disk: one Parquet or CSV file, or a directory of parts, read with pyarrow.

A directory is read recursively; files whose name starts with `_` or `.` (Spark's `_SUCCESS`, Hive's
`_metadata`, editors' dot files) are not data, as in Spark and pyarrow.dataset.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ferryman_serving.batch.shards import InputFile, WorkUnit

DATA_SUFFIXES = (".parquet", ".csv")


class BatchInputError(Exception):
    """The input cannot be read; the message names the URI or file and what to change."""


def local_path(uri: str) -> Path:
    """A file:// URI or a plain path as a local path (other schemes are not supported yet)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path) if parts.scheme else uri)
    raise BatchInputError(f"unsupported batch URI scheme {parts.scheme!r} in {uri}; use file:// or a path")


def list_input(uri: str) -> list[Path]:
    """The data files of the input, sorted; a single file is its own listing."""
    root = local_path(uri)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise BatchInputError(f"batch input {uri} does not exist; check spec.batch.input.uri")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES and not _hidden(p.relative_to(root))
    )
    if not files:
        raise BatchInputError(f"batch input {uri} holds no .parquet or .csv file")
    return files


def _hidden(relative: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.parts)


def _is_csv(path: Path) -> bool:
    return path.suffix == ".csv"


def layout_of(path: Path) -> InputFile:
    """Row count per row group (a CSV file is counted once, as one group)."""
    if _is_csv(path):
        return InputFile(str(path), (pa_csv.read_csv(path).num_rows,))
    metadata = pq.ParquetFile(path).metadata
    return InputFile(str(path), tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)))


def input_fingerprint(files: list[Path]) -> str:
    """sha256 over each file's name, size and modification time: changes when the data changes,
    without reading terabytes (the same rule as make and rsync)."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "sha256:" + digest.hexdigest()


def read_unit(unit: WorkUnit, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The unit's rows as record batches of at most batch_rows rows, in file order."""
    path = Path(unit.path)
    if _is_csv(path):
        table = pa_csv.read_csv(path)
        yield from table.select(columns).to_batches(batch_rows) if columns else table.to_batches(batch_rows)
        return
    parquet = pq.ParquetFile(path)
    groups = list(unit.row_groups) if unit.row_groups is not None else list(range(parquet.num_row_groups))
    if groups:
        yield from parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns)


_END = object()


def read_ahead(batches: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """The batches, read by a thread up to `depth` ahead: Parquet decoding and session.run both release
    the GIL, so reading the next batch overlaps scoring this one. Reader errors reach the consumer."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for batch in batches:
                ready.put(batch)
        except BaseException as error:  # handed to the consumer, who raises it
            ready.put(error)
        ready.put(_END)

    threading.Thread(target=produce, name="batch-read-ahead", daemon=True).start()
    while (item := ready.get()) is not _END:
        if isinstance(item, BaseException):
            raise item
        yield item
