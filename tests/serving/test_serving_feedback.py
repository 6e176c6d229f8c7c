"""Delayed labels: POST /v2/models/{name}/feedback scores remembered predictions by request id."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ferryman_testing.models import FEATURES, GradientBoostingFiles, make_argmax_classifier
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def classifier_path(model_root: Path) -> Path:
    return make_argmax_classifier(model_root / "argmax")


@pytest.fixture(scope="module")
def classifier(classifier_path: Path, logs_dir: Path) -> Iterator[ServingProcess]:
    with ServingProcess(logs_dir, model_uri=f"file://{classifier_path}", model_name="clf", model_version="2",
                        drain_seconds="0") as server:  # fmt: skip
        yield server.wait_ready()


@pytest.fixture(scope="module")
def tight(classifier_path: Path, logs_dir: Path) -> Iterator[ServingProcess]:
    """Keeps 3 predictions for at most 1 s."""
    with ServingProcess(logs_dir, model_uri=f"file://{classifier_path}", model_name="clf", model_version="2",
                        drain_seconds="0", feedback_max_predictions="3",
                        feedback_max_age_seconds="1") as server:  # fmt: skip
        yield server.wait_ready()


def infer(server: ServingProcess, request_id: str, rows: list[list[float]], model: str = "clf") -> list[int]:
    body = {"id": request_id, "inputs": [{"name": "x", "shape": [len(rows), 2], "datatype": "FP32",
                                          "data": [v for row in rows for v in row]}]}  # fmt: skip
    answer = httpx.post(f"{server.url}/v2/models/{model}/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == request_id
    return list(answer.json()["outputs"][0]["data"])


def feedback(server: ServingProcess, body: object, model: str = "clf") -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/{model}/feedback", json=body)


def samples(server: ServingProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(server: ServingProcess, name: str, **labels: str) -> float:
    return samples(server).get((name, tuple(sorted(labels.items()))), 0.0)


def test_labels_score_a_classifier_per_version(classifier: ServingProcess) -> None:
    """Four one-row requests, two labelled right and two wrong in one batched feedback: accuracy 2/4."""
    before_labelled = value(classifier, "ferryman_feedback_labelled_rows_total", model="clf", version="2")
    before_correct = value(classifier, "ferryman_feedback_correct_rows_total", model="clf", version="2")
    predicted = [infer(classifier, f"acc-{i}", [[float(i % 2), 0.5]])[0] for i in range(4)]
    assert predicted == [1, 0, 1, 0]
    labels = [1, 0, 0, 1]  # the first two right, the last two wrong
    answer = feedback(classifier, {"feedback": [{"id": f"acc-{i}", "label": labels[i]} for i in range(4)]})
    assert answer.status_code == 200, answer.text
    assert [r["result"] for r in answer.json()["results"]] == ["recorded"] * 4
    assert answer.json()["results"][0]["model_version"] == "2"
    labelled = value(classifier, "ferryman_feedback_labelled_rows_total", model="clf", version="2")
    correct = value(classifier, "ferryman_feedback_correct_rows_total", model="clf", version="2")
    assert (labelled - before_labelled, correct - before_correct) == (4, 2)


def test_a_batched_request_takes_one_label_per_row(classifier: ServingProcess) -> None:
    """A wrong count of labels is answered `invalid` with the fix, and the prediction stays for a retry."""
    infer(classifier, "batch-1", [[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    wrong = feedback(classifier, {"id": "batch-1", "label": 0})
    assert wrong.status_code == 200
    (result,) = wrong.json()["results"]
    assert result["result"] == "invalid" and "send one per row" in result["message"]
    right = feedback(classifier, {"id": "batch-1", "label": [0, 1, 0]})
    assert right.json()["results"][0]["result"] == "recorded"


def test_a_request_with_no_rows_and_an_id_is_answered(classifier: ServingProcess) -> None:
    """Shape [0, 2] with an id was a 500 (keeping its predictions failed), which counts against a canary."""
    assert infer(classifier, "no-rows", []) == []
    wrong = feedback(classifier, {"id": "no-rows", "label": 1}).json()["results"][0]
    assert wrong["result"] == "invalid" and "the request had 0 row(s)" in wrong["message"]
    assert feedback(classifier, {"id": "no-rows", "label": []}).json()["results"][0]["result"] == "recorded"


def test_unknown_and_repeated_ids_are_answered_and_counted(classifier: ServingProcess) -> None:
    before = value(classifier, "ferryman_feedback_total", model="clf", result="unknown")
    infer(classifier, "once", [[0.0, 1.0]])
    assert feedback(classifier, {"id": "once", "label": 1}).json()["results"][0]["result"] == "recorded"
    again = feedback(classifier, {"feedback": [{"id": "once", "label": 1}, {"id": "never-sent", "label": 0}]})
    assert again.status_code == 200
    assert [r["result"] for r in again.json()["results"]] == ["unknown", "unknown"]
    assert "already labelled" in again.json()["results"][0]["message"]
    assert value(classifier, "ferryman_feedback_total", model="clf", result="unknown") - before == 2


def test_expired_predictions_are_not_scored(tight: ServingProcess) -> None:
    infer(tight, "old", [[0.0, 1.0]])
    time.sleep(1.2)
    answer = feedback(tight, {"id": "old", "label": 1})
    assert answer.status_code == 200
    result = answer.json()["results"][0]
    assert result["result"] == "expired" and "FERRYMAN_FEEDBACK_MAX_AGE_SECONDS" in result["message"]
    assert value(tight, "ferryman_feedback_total", model="clf", result="expired") >= 1


def test_the_store_keeps_only_the_newest_predictions(tight: ServingProcess) -> None:
    """FERRYMAN_FEEDBACK_MAX_PREDICTIONS=3: of five requests, the two oldest are gone."""
    for i in range(5):
        infer(tight, f"size-{i}", [[0.0, 1.0]])
    answer = feedback(tight, {"feedback": [{"id": f"size-{i}", "label": 1} for i in range(5)]})
    assert [r["result"] for r in answer.json()["results"]] == [
        "unknown",
        "unknown",
        "recorded",
        "recorded",
        "recorded",
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([1, 2], "must be a JSON object"),
        ({"feedback": []}, "non-empty list"),
        ({"feedback": [{"id": "a"}]}, 'feedback[0] needs "id"'),
        ({"label": 1}, 'the body needs "id"'),
        ({"feedback": [{"id": str(i), "label": 0} for i in range(1001)]}, "at most 1000"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(
    classifier: ServingProcess, body: object, fragment: str
) -> None:
    answer = feedback(classifier, body)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]


def test_other_bad_input_is_never_a_5xx(classifier: ServingProcess) -> None:
    not_json = httpx.post(f"{classifier.url}/v2/models/clf/feedback", content=b"{nope")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert feedback(classifier, {"id": "x", "label": 1}, model="other").status_code == 404
    assert httpx.get(f"{classifier.url}/v2/models/clf/feedback").status_code == 405
    odd = feedback(classifier, {"feedback": [{"id": 7, "label": 1}, {"id": "y", "label": {"a": 1}}]})
    assert odd.status_code == 200
    assert [r["result"] for r in odd.json()["results"]] == ["invalid", "unknown"]
    assert odd.json()["results"][0]["id"] is None, "not a Python repr of what was sent"


def test_an_id_nested_a_thousand_deep_is_invalid_not_a_500(classifier: ServingProcess) -> None:
    """str() of the id raised RecursionError; orjson reads JSON up to 1024 levels deep."""
    deep = "[" * 1000 + "]" * 1000
    answer = httpx.post(f"{classifier.url}/v2/models/clf/feedback", content=f'{{"id": {deep}, "label": 1}}')
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == [
        {"id": None, "result": "invalid", "message": "id must be the non-empty string id of an infer request"}
    ]


def test_an_id_too_long_to_keep_is_named_as_such(classifier: ServingProcess) -> None:
    """An infer request may carry any id (it is echoed), but only ids of up to 256 characters are kept:
    the label for a longer one was answered "unknown: never sent with this id", which was not true."""
    long_id = "r" * 300
    infer(classifier, long_id, [[1.0, 0.0]])
    result = feedback(classifier, {"id": long_id, "label": 0}).json()["results"][0]
    assert result["result"] == "invalid" and "longer than 256 characters" in result["message"]
    assert result["id"] == "r" * 256 + "..."


def test_concurrent_infers_and_labels_all_count(classifier: ServingProcess) -> None:
    """Eight clients each send 25 requests and label each at once: every label is recorded exactly once."""
    before = value(classifier, "ferryman_feedback_labelled_rows_total", model="clf", version="2")
    failures: list[str] = []

    def client(worker: int) -> None:
        with httpx.Client(base_url=classifier.url, timeout=10) as http:
            for i in range(25):
                rid = f"c{worker}-{i}"
                body = {
                    "id": rid,
                    "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 0.0]}],
                }
                if http.post("/v2/models/clf/infer", json=body).status_code != 200:
                    failures.append(rid)
                answer = http.post("/v2/models/clf/feedback", json={"id": rid, "label": 0})
                if answer.status_code != 200 or answer.json()["results"][0]["result"] != "recorded":
                    failures.append(f"{rid}: {answer.text}")

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert (
        value(classifier, "ferryman_feedback_labelled_rows_total", model="clf", version="2") - before == 200
    )


def test_a_regressor_gets_an_absolute_error_histogram(
    gb_server: ServingProcess, gradient_boosting: GradientBoostingFiles
) -> None:
    rows = [[0.1] * FEATURES, [-0.3] * FEATURES]
    body = {"id": "reg-1", "inputs": [{"name": "features", "shape": [2, FEATURES], "datatype": "FP32",
                                       "data": [v for row in rows for v in row]}]}  # fmt: skip
    answer = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", json=body)
    predictions = answer.json()["outputs"][0]["data"]
    labels = [predictions[0] + 0.004, predictions[1] - 3.0]
    result = feedback(gb_server, {"id": "reg-1", "label": labels}, model="fraud")
    assert result.json()["results"][0]["result"] == "recorded"
    version = {"model": "fraud", "version": "7"}
    assert value(gb_server, "ferryman_feedback_absolute_error_bucket", le="0.005", **version) == 1
    assert value(gb_server, "ferryman_feedback_absolute_error_bucket", le="5.0", **version) == 2
    assert value(gb_server, "ferryman_feedback_absolute_error_count", **version) == 2


def test_a_label_in_other_units_cannot_drown_the_error_sum(gb_server: ServingProcess) -> None:
    """Labels 1e308 and -1e308 once made the error sum +Inf for good (every later MAE NaN): now invalid.

    A string label for a regressor is refused too (it was scored as an infinite error). The prediction
    is kept, and a corrected label is then scored as usual.
    """
    version = {"model": "fraud", "version": "7"}
    body = {"id": "units", "inputs": [{"name": "features", "shape": [1, FEATURES], "datatype": "FP32",
                                       "data": [0.2] * FEATURES}]}  # fmt: skip
    prediction = httpx.post(f"{gb_server.url}/v2/models/fraud/infer", json=body).json()["outputs"][0]["data"][
        0
    ]
    sum_before = value(gb_server, "ferryman_feedback_absolute_error_sum", **version)
    for label, why in ((1e308, "not scored (a label in other units?)"), (-1e308, "not scored"),
                       ("1.5", "the model predicts numbers")):  # fmt: skip
        result = feedback(gb_server, {"id": "units", "label": label}, model="fraud").json()["results"][0]
        assert result["result"] == "invalid" and why in result["message"], result
    recorded = feedback(gb_server, {"id": "units", "label": prediction + 0.5}, model="fraud").json()
    assert recorded["results"][0]["result"] == "recorded"
    added = value(gb_server, "ferryman_feedback_absolute_error_sum", **version) - sum_before
    assert added == pytest.approx(0.5, abs=1e-6)


def test_feedback_off_says_so(classifier_path: Path, logs_dir: Path) -> None:
    with ServingProcess(logs_dir, model_uri=f"file://{classifier_path}", model_name="clf",
                        drain_seconds="0", feedback_max_predictions="0") as server:  # fmt: skip
        server.wait_ready()
        answer = feedback(server, {"id": "a", "label": 1})
    assert answer.status_code == 404 and "FERRYMAN_FEEDBACK_MAX_PREDICTIONS" in answer.json()["error"]


def test_the_store_also_keeps_only_so_many_rows_in_all(classifier_path: Path, logs_dir: Path) -> None:
    """FERRYMAN_FEEDBACK_MAX_ROWS=4: two requests of three rows are more than four rows, so the older one
    is gone although far fewer than FERRYMAN_FEEDBACK_MAX_PREDICTIONS requests are kept. Before, only
    requests were counted, and ids on large batches grew memory without limit."""
    with ServingProcess(logs_dir, model_uri=f"file://{classifier_path}", model_name="clf", drain_seconds="0",
                        feedback_max_rows="4") as server:  # fmt: skip
        server.wait_ready()
        for request_id in ("rows-a", "rows-b"):
            infer(server, request_id, [[0.0, 1.0]] * 3)
        answer = feedback(server, {"feedback": [{"id": i, "label": [1, 1, 1]} for i in ("rows-a", "rows-b")]})
    assert [r["result"] for r in answer.json()["results"]] == ["unknown", "recorded"], answer.text
