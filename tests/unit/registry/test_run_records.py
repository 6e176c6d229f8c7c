"""A run as runs/search answers it becomes a RunRecord; a malformed answer is a RegistryError."""

from __future__ import annotations

import pytest

from ferryman.registry.mlflow import RegistryError, _run_record

pytestmark = pytest.mark.unit


def test_metrics_and_tags_of_a_searched_run() -> None:
    run = {
        "info": {"run_id": "abc"},
        "data": {
            "metrics": [{"key": "auc", "value": 0.9, "step": 0}, {"key": "data_check.rows", "value": 500}],
            "tags": [{"key": "ferryman.dev/model-version", "value": "3"}, {"key": "empty"}],
        },
    }
    record = _run_record(run, "search")
    assert record.run_id == "abc"
    assert dict(record.metrics) == {"auc": 0.9, "data_check.rows": 500.0}
    assert dict(record.tags) == {"ferryman.dev/model-version": "3", "empty": ""}


def test_a_run_without_data_has_no_metrics_or_tags() -> None:
    record = _run_record({"info": {"run_id": "abc"}}, "search")
    assert dict(record.metrics) == {} and dict(record.tags) == {}


def test_a_run_without_an_id_is_an_error_naming_the_source() -> None:
    with pytest.raises(RegistryError, match=r"MLflow registry POST .* run without info\.run_id"):
        _run_record({"info": {}}, "MLflow registry POST http://x/api/2.0/mlflow/runs/search")
