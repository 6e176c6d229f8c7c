"""Delayed labels: remember recent predictions by request id, and score them when the truth arrives.

A client that sends `"id"` with an infer request can later POST the ground truth for it to
`/v2/models/{name}/feedback`. The store is bounded three times: at most `max_predictions` requests
and at most `max_rows` rows of predictions in all are kept (the oldest requests are dropped first; a
request with more rows than that is not kept), and a prediction older than `max_age_seconds` is answered
`expired` instead of being scored. Without the rows bound, ids on large batches grew memory without
limit (measured: 100 requests of 100,000 rows took 388 MB). A label consumes its prediction: sending it
again answers `unknown`.

Infer and feedback requests run on the worker threads (there may be several), so the store takes a
lock; both sides do only dictionary work under it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_ID_LENGTH = 256
MAX_KEPT_TEXT = 64
LONG_TEXT_MARK = "\x00sha256:"  # cannot start a string a client compares with (JSON labels are text)
MAX_ITEMS_PER_REQUEST = 1000


@dataclass(frozen=True, slots=True)
class StoredPrediction:
    version: str
    values: tuple[float | str, ...]  # one per row of the request
    classification: bool
    at: float  # monotonic seconds


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one labelled id: recorded, unknown, expired or invalid (with why)."""

    id: str | None  # None when the client's id was not a string
    result: str
    message: str | None = None
    version: str | None = None


class PredictionStore:
    """Bounded by count, rows and age; thread-safe."""

    def __init__(
        self,
        max_predictions: int,
        max_age_seconds: float,
        max_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_predictions = max_predictions
        self.max_age_seconds = max_age_seconds
        self.max_rows = max_rows
        self._clock = clock
        self._entries: OrderedDict[str, StoredPrediction] = OrderedDict()
        self._rows = 0  # rows of all entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, request_id: str, version: str, values: np.ndarray, classification: bool) -> None:
        """Remember one request's per-row predictions (a later request with the same id replaces it)."""
        if self.max_predictions == 0 or len(request_id) > MAX_ID_LENGTH:
            return
        if len(values) > self.max_rows:
            with self._lock:
                self._drop(request_id)  # not kept, but the id's older prediction must not be scored
            return
        plain = tuple(_plain(v) for v in values.tolist())
        self.restore(request_id, StoredPrediction(version, plain, classification, self._clock()))

    def restore(self, request_id: str, entry: StoredPrediction) -> None:
        """Put an entry (back) at the young end of the store."""
        with self._lock:
            self._drop(request_id)
            self._entries[request_id] = entry
            self._rows += len(entry.values)
            while len(self._entries) > self.max_predictions or self._rows > self.max_rows:
                self._drop(next(iter(self._entries)))

    def take(self, request_id: str) -> StoredPrediction | str:
        """The prediction for an id, removed from the store; else "unknown" or "expired"."""
        with self._lock:
            entry = self._drop(request_id)
        if entry is None:
            return "unknown"
        if self._clock() - entry.at > self.max_age_seconds:
            return "expired"
        return entry

    def _drop(self, request_id: str) -> StoredPrediction | None:
        """Remove an entry (the caller holds the lock)."""
        entry = self._entries.pop(request_id, None)
        if entry is not None:
            self._rows -= len(entry.values)
        return entry


def _plain(value: object) -> float | str:
    if isinstance(value, bytes):
        return kept_text(value.decode("utf-8", errors="replace"))
    if isinstance(value, str):
        return kept_text(value)
    return float(value)  # type: ignore[arg-type]


def kept_text(text: str) -> str:
    """A string prediction or label as the store compares it: itself when short (class names), else a
    digest. Kept whole, a model answering 1 MiB strings held 1 MiB per id: the store's bounds count rows,
    not bytes, so its memory had no useful bound."""
    if len(text) <= MAX_KEPT_TEXT:
        return text
    return LONG_TEXT_MARK + hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def parse_items(document: object) -> list[tuple[object, object]]:
    """(id, label) pairs of a feedback body: {"id", "label"} or {"feedback": [{"id", "label"}, ...]}.

    Raises ValueError naming the field and the fix; per-item problems (a bad id or label) are left to
    the caller, which answers them per item.
    """
    if not isinstance(document, dict):
        raise ValueError('the body must be a JSON object: {"id": ..., "label": ...} or {"feedback": [...]}')
    if "feedback" in document:
        items = document["feedback"]
        if not isinstance(items, list) or not items:
            raise ValueError('"feedback" must be a non-empty list of {"id": ..., "label": ...} objects')
        if len(items) > MAX_ITEMS_PER_REQUEST:
            raise ValueError(
                f'"feedback" holds {len(items)} items; send at most {MAX_ITEMS_PER_REQUEST} per request'
            )
    else:
        items = [document]
    pairs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item or "label" not in item:
            where = "the body" if "feedback" not in document else f"feedback[{index}]"
            raise ValueError(f'{where} needs "id" (the infer request\'s id) and "label" (the ground truth)')
        pairs.append((item["id"], item["label"]))
    return pairs


def labels_for(label: object, rows: int) -> list[float | str]:
    """The label(s) of a request of `rows` rows: a scalar for one row, else a list with one per row."""
    values = label if isinstance(label, list) else [label]
    if len(values) != rows:
        raise ValueError(
            f"label has {len(values)} value(s) but the request had {rows} row(s): send one per row"
        )
    result: list[float | str] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("each label must be a number or a string")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("labels must be finite numbers")
        result.append(kept_text(value) if isinstance(value, str) else float(value))
    return result


# An absolute error beyond this is a label in other units, not a miss of the model. Scored, it would
# drown the error sum for good: a float64 keeps 16 digits, so after an error of 1e300 every later error
# vanishes in the sum's rounding, and two of them make it +Inf (and every rate of it NaN).
MAX_SCORED_ERROR = 1e9


def check_scorable(stored: StoredPrediction, labels: list[float | str]) -> None:
    """Raise ValueError when a regressor's labels cannot be scored: a string, or too far to be a miss."""
    if stored.classification:
        return
    for row, (prediction, label) in enumerate(zip(stored.values, labels, strict=True)):
        if isinstance(label, str):
            raise ValueError(f"label {row} is the string {label[:40]!r} but the model predicts numbers")
        if isinstance(prediction, str) or not math.isfinite(prediction):
            continue  # the model's own fault: scored as an infinite error, outside the sum
        if abs(prediction - label) > MAX_SCORED_ERROR:
            raise ValueError(
                f"label {row} ({label:g}) is {abs(prediction - label):.3g} from the prediction "
                f"({prediction:g}); errors over {MAX_SCORED_ERROR:g} are not scored (a label in other units?)"
            )


# Absolute error of a regressor's prediction, in the model's own units: wide, since units vary by model.
ERROR_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 1000.0,
)  # fmt: skip


@dataclass
class VersionScores:
    """Labelled rows of one version: correct ones (classifiers) or absolute errors (regressors)."""

    labelled: int = 0
    correct: int = 0
    error_counts: list[int] | None = None
    error_sum: float = 0.0


class FeedbackCounts:
    """Counters of the feedback endpoint, read by the metrics collector at scrape time."""

    def __init__(self) -> None:
        self.results: dict[str, int] = {"recorded": 0, "unknown": 0, "expired": 0, "invalid": 0}
        self.by_version: dict[str, VersionScores] = {}
        self._lock = threading.Lock()

    def count(self, result: str) -> None:
        with self._lock:
            self.results[result] = self.results.get(result, 0) + 1

    def score(self, version: str, classification: bool, predictions: tuple[float | str, ...],
              labels: list[float | str]) -> None:  # fmt: skip
        with self._lock:
            scores = self.by_version.setdefault(version, VersionScores())
            scores.labelled += len(labels)
            if classification:
                scores.correct += sum(_same_class(p, y) for p, y in zip(predictions, labels, strict=True))
                return
            if scores.error_counts is None:
                scores.error_counts = [0] * (len(ERROR_BUCKETS) + 1)
            for p, y in zip(predictions, labels, strict=True):
                error = (
                    abs(float(p) - float(y))
                    if not isinstance(p, str) and not isinstance(y, str)
                    else math.inf
                )
                scores.error_counts[_bucket(error)] += 1
                scores.error_sum += error if math.isfinite(error) else 0.0

    def snapshot(self) -> tuple[dict[str, int], dict[str, VersionScores]]:
        with self._lock:
            versions = {
                v: VersionScores(
                    s.labelled, s.correct, list(s.error_counts) if s.error_counts else None, s.error_sum
                )
                for v, s in self.by_version.items()
            }
            return dict(self.results), versions


def _same_class(prediction: float | str, label: float | str) -> bool:
    if isinstance(prediction, str) or isinstance(label, str):
        return str(prediction) == str(label) or _number_text(prediction) == _number_text(label)
    return prediction == label


def _number_text(value: float | str) -> str:
    """1.0 and "1" name the same class."""
    try:
        number = float(value)
    except ValueError:
        return str(value)
    return str(int(number)) if number.is_integer() else str(number)


def _bucket(error: float) -> int:
    for index, edge in enumerate(ERROR_BUCKETS):
        if error <= edge:
            return index
    return len(ERROR_BUCKETS)
