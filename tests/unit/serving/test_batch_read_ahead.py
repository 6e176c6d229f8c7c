"""The read-ahead thread of batch scoring hands over every batch and stops when its consumer stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from ferryman_serving.batch.dataset import read_ahead

pytestmark = pytest.mark.unit


def numbered_batches(count: int, closed: threading.Event) -> Iterator[pa.RecordBatch]:
    try:
        for index in range(count):
            yield pa.record_batch({"n": [index]})
    finally:
        closed.set()


def readers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "batch-read-ahead"]


def test_every_batch_arrives_in_order() -> None:
    closed = threading.Event()
    assert [b.column("n")[0].as_py() for b in read_ahead(numbered_batches(50, closed))] == list(range(50))
    assert closed.is_set() and readers() == []


def test_a_consumer_that_stops_early_stops_the_reader() -> None:
    """Before: the reader stayed blocked on its full queue, still inside pyarrow when the process exited,
    which aborted it now and then (exit code 134 instead of the bad input's 2)."""
    closed = threading.Event()
    batches = read_ahead(numbered_batches(1000, closed), depth=2)
    next(batches)
    batches.close()
    assert readers() == []
    assert closed.is_set()  # the source generator was closed too: its file is released


def test_a_reader_error_reaches_the_consumer() -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"n": [0]})
        raise OSError("the file went away")

    batches = read_ahead(failing())
    next(batches)
    with pytest.raises(OSError, match="went away"):
        next(batches)
    assert readers() == []
