"""PredictionStore: remembered predictions are bounded by requests, by rows in all, and by age."""

from __future__ import annotations

import numpy as np
import pytest

from ferryman_serving.feedback import FeedbackCounts, PredictionStore, StoredPrediction, kept_text, labels_for

pytestmark = pytest.mark.unit


def store(max_predictions: int = 100, max_rows: int = 10) -> PredictionStore:
    return PredictionStore(max_predictions, max_age_seconds=60.0, max_rows=max_rows, clock=lambda: 0.0)


def put(predictions: PredictionStore, request_id: str, rows: int) -> None:
    predictions.put(request_id, "1", np.zeros(rows, dtype=np.float32), classification=False)


def kept(predictions: PredictionStore, *request_ids: str) -> list[str]:
    return [i for i in request_ids if isinstance(predictions.take(i), StoredPrediction)]


def test_the_oldest_requests_go_when_the_rows_in_all_pass_the_limit() -> None:
    predictions = store(max_rows=10)
    for request_id in ("a", "b", "c"):
        put(predictions, request_id, 4)
    assert kept(predictions, "a", "b", "c") == ["b", "c"]


def test_a_request_with_more_rows_than_the_limit_is_not_kept_and_evicts_nothing() -> None:
    predictions = store(max_rows=10)
    put(predictions, "small", 3)
    put(predictions, "huge", 11)
    assert kept(predictions, "small", "huge") == ["small"]


def test_an_id_reused_on_a_request_too_large_to_keep_forgets_its_older_prediction() -> None:
    """The label that follows is for the newer request: scoring it against the older one would be wrong."""
    predictions = store(max_rows=10)
    put(predictions, "reused", 3)
    put(predictions, "reused", 11)
    assert kept(predictions, "reused") == []


def test_replacing_and_taking_give_their_rows_back() -> None:
    predictions = store(max_rows=10)
    put(predictions, "a", 6)
    put(predictions, "a", 6)  # the same id again replaces it: 6 rows held, not 12
    put(predictions, "b", 4)
    assert kept(predictions, "a") == ["a"]
    put(predictions, "c", 6)  # "a" was taken: 4 + 6 rows fit
    assert kept(predictions, "b", "c") == ["b", "c"]


def test_the_request_count_still_bounds_the_store() -> None:
    predictions = store(max_predictions=2, max_rows=1000)
    for request_id in ("a", "b", "c"):
        put(predictions, request_id, 1)
    assert kept(predictions, "a", "b", "c") == ["b", "c"]


def test_long_string_predictions_are_kept_as_digests_and_still_score() -> None:
    """A model answering 1 MiB strings held 1 MiB per id (the bounds count rows, not bytes); kept as a
    digest, the same label still matches and another does not."""
    answer = "x" * (1 << 20)
    store = PredictionStore(max_predictions=10, max_age_seconds=60, max_rows=100)
    store.put("r1", "7", np.array([answer, "fraud"], dtype=object), classification=True)
    stored = store.take("r1")
    assert isinstance(stored, StoredPrediction)
    assert stored.values == (kept_text(answer), "fraud") and len(str(stored.values[0])) < 100
    counts = FeedbackCounts()
    counts.score("7", True, stored.values, labels_for([answer, "legit"], 2))
    assert counts.by_version["7"].correct == 1 and counts.by_version["7"].labelled == 2
