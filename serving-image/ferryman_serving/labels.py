"""Scoring delayed labels against remembered predictions: one Outcome per labelled id, never an exception
for a single bad item (the caller answers 200 with every item's result)."""

from __future__ import annotations

import math

import numpy as np

from ferryman_serving.errors import BadRequest
from ferryman_serving.feedback import (
    MAX_ID_LENGTH,
    FeedbackCounts,
    Outcome,
    PredictionStore,
    check_scorable,
    labels_for,
    parse_items,
)

UNKNOWN_MESSAGE = (
    "no prediction with this id is kept: never sent with this id, already labelled, or pushed out by "
    "newer requests (FERRYMAN_FEEDBACK_MAX_PREDICTIONS)"
)
EXPIRED_MESSAGE = "the prediction is older than FERRYMAN_FEEDBACK_MAX_AGE_SECONDS"
LONG_ID_MESSAGE = (
    f"the id is longer than {MAX_ID_LENGTH} characters: predictions under such ids are not kept; use a "
    "shorter id"
)


def is_classification(values: np.ndarray, task: str) -> bool:
    """Integer, boolean and string outputs are classes; floating point ones are regression values."""
    if task != "auto":
        return task == "classification"
    return values.dtype.kind in "iubOUS"


def per_row_values(values: np.ndarray) -> np.ndarray | None:
    """One value per row ([n] or [n, 1]); None for outputs with several values a row (probabilities)."""
    if values.ndim == 0:
        return None
    # Not reshape(n, -1): numpy cannot infer the -1 of a request with no rows (shape [0, 1]).
    flat = values.reshape(values.shape[0], math.prod(values.shape[1:]))
    return flat[:, 0] if flat.shape[1] == 1 else None


def record_feedback(store: PredictionStore, counts: FeedbackCounts, document: object) -> list[Outcome]:
    """Score every (id, label) of a feedback body; BadRequest only when the body's shape is wrong."""
    try:
        pairs = parse_items(document)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    return [_record_one(store, counts, request_id, label) for request_id, label in pairs]


def _record_one(store: PredictionStore, counts: FeedbackCounts, request_id: object, label: object) -> Outcome:
    if not isinstance(request_id, str) or not request_id:
        counts.count("invalid")
        # Not echoed: str() of a list nested 1000 deep raised RecursionError (a 500), and a Python repr
        # ("None", "{'a': 1}") is not what the client sent anyway.
        return Outcome(None, "invalid", "id must be the non-empty string id of an infer request")
    if len(request_id) > MAX_ID_LENGTH:
        counts.count("invalid")
        return Outcome(request_id[:MAX_ID_LENGTH] + "...", "invalid", LONG_ID_MESSAGE)
    stored = store.take(request_id)
    if isinstance(stored, str):
        counts.count(stored)
        return Outcome(request_id, stored, UNKNOWN_MESSAGE if stored == "unknown" else EXPIRED_MESSAGE)
    try:
        labels = labels_for(label, len(stored.values))
        check_scorable(stored, labels)
    except ValueError as error:
        store.restore(request_id, stored)  # a mistyped label must not cost the prediction
        counts.count("invalid")
        return Outcome(request_id, "invalid", str(error))
    counts.score(stored.version, stored.classification, stored.values, labels)
    counts.count("recorded")
    return Outcome(request_id, "recorded", version=stored.version)


def outcomes_document(model: str, outcomes: list[Outcome]) -> dict[str, object]:
    results = []
    for outcome in outcomes:
        entry: dict[str, object] = {"id": outcome.id, "result": outcome.result}
        if outcome.version is not None:
            entry["model_version"] = outcome.version
        if outcome.message is not None:
            entry["message"] = outcome.message
        results.append(entry)
    return {"model_name": model, "results": results}
