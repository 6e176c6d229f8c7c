"""The operator's log lines: one JSON object each, naming the object, with every URL redacted."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from ferryman.handlers.failure_events import failure_message
from ferryman.logs import HandlerSuccessAtDebug, JsonLineFormatter

pytestmark = pytest.mark.unit

REF = {"apiVersion": "ferryman.dev/v1alpha1", "kind": "ModelDeployment", "namespace": "risk", "name": "fraud"}


def record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    level_name = logging.getLevelName(level)
    fields = {"name": "kopf.objects", "levelno": level, "levelname": level_name, "msg": message, **extra}
    return logging.makeLogRecord(fields)


def test_a_decision_is_one_json_line_naming_the_object_and_the_decision() -> None:
    line = JsonLineFormatter().format(
        record("reconcile: start a rollout", k8s_ref=REF, decision="start_rollout")
    )
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["object"] == {"kind": "ModelDeployment", "namespace": "risk", "name": "fraud"}
    assert parsed["decision"] == "start_rollout" and parsed["level"] == "INFO"
    assert "k8s_ref" not in parsed and "settings" not in parsed


def test_urls_are_redacted_in_messages_extras_errors_and_tracebacks() -> None:
    secret = "https://alice:s3cret@models.example/m.onnx?sig=abc"
    try:
        raise RuntimeError(f"cannot fetch {secret}")
    except RuntimeError:
        failed = record(f"loading {secret}", logging.ERROR, k8s_ref=REF, uri=secret, exc_info=sys.exc_info())
    line = JsonLineFormatter().format(failed)
    assert "s3cret" not in line and "sig=abc" not in line
    parsed = json.loads(line)
    assert parsed["error"] == "RuntimeError: cannot fetch https://REDACTED@models.example/m.onnx?REDACTED"
    assert "RuntimeError" in parsed["traceback"]
    assert "s3cret" not in failure_message(failed) and "RuntimeError" in failure_message(failed)


def test_kopfs_line_after_each_successful_handler_run_is_left_out_and_decisions_and_failures_stay() -> None:
    kept = HandlerSuccessAtDebug().filter
    assert not kept(record("Handler 'stable_deployment_changed' succeeded.", k8s_ref=REF))
    assert kept(record("Creation is processed: 1 succeeded; 0 failed.", k8s_ref=REF))
    assert kept(record("reconcile: start a rollout", k8s_ref=REF, decision="start_rollout"))
    assert kept(record("Handler 'reconcile_model_deployment' failed temporarily: conflict", logging.WARNING))
    assert kept(
        logging.makeLogRecord(
            {"name": "ferryman.x", "levelno": logging.INFO, "msg": "Handler 'a' succeeded."}
        )
    )
