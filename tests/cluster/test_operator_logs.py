"""`ferryman operator` as users run it: JSON lines for decisions and failures, Warning Events for failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferryman_testing.kube_cli import Kubectl
from ferryman_testing.manifests import model_deployment
from ferryman_testing.model_deployments import status_of
from ferryman_testing.polling import wait_for
from ferryman_testing.servers import free_port, stop_process

# Pods to Ready (up to two minutes on a busy machine) before the checks.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture
def operator_log(cluster: Any, kubectl: Kubectl, namespace: str, tmp_path: Path) -> Iterator[Path]:
    """The operator process, its stderr in a file; its resources are deleted while it still runs."""
    log = tmp_path / "operator.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "FERRYMAN_NAMESPACES": json.dumps([namespace]),
        "FERRYMAN_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
        "FERRYMAN_PROMETHEUS_URL": "http://127.0.0.1:9",
    }
    with log.open("wb") as stderr:
        command = [sys.executable, "-m", "ferryman.cli", "operator"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            yield log
            kubectl.run(
                "delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s"
            )
        finally:
            stop_process(process)


def log_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def lines_about(log: Path, name: str, **wanted: str) -> list[dict[str, Any]]:
    return [
        line
        for line in log_lines(log)
        if line.get("object", {}).get("name") == name
        and all(wanted_text in str(line.get(key, "")) for key, wanted_text in wanted.items())
    ]


def test_decisions_and_timer_failures_are_logged_and_failures_posted_as_warnings(
    kubectl: Kubectl, namespace: str, model_uri: str, operator_log: Path
) -> None:
    """A reconcile logs its decision; a timer failing on a bad status logs an ERROR and posts a Warning."""
    md = model_deployment("fraud", namespace, model_uri)
    md["spec"]["strategy"] = {"canary": {"steps": [{"weight": 50}]}}
    kubectl.apply([md])
    (decision,) = wait_for(
        "a decision line", lambda: lines_about(operator_log, "fraud", decision="serve_in_place"), timeout=60
    )
    assert decision["level"] == "INFO" and decision["object"]["namespace"] == namespace
    wait_for("stable recorded", lambda: status_of(kubectl, namespace).get("stableVersion"))

    # A status that names an active phase but no strategy: every tick of the rollout timer fails.
    corrupt = json.dumps({"status": {"phase": "Progressing"}})
    kubectl.run(
        "patch", "md", "fraud", "-n", namespace, "--subresource=status", "--type=merge", "-p", corrupt
    )
    failures = wait_for(
        "a timer failure line",
        lambda: lines_about(operator_log, "fraud", level="ERROR", message="Timer"),
        timeout=60,
    )
    assert "status.strategy: missing" in failures[0]["error"]
    assert "traceback" in failures[0]

    def warning_events() -> list[dict[str, Any]]:
        listing = json.loads(
            kubectl.run(
                "get", "events", "-n", namespace, "--field-selector", "reason=HandlerFailed", "-o", "json"
            )
        )
        return [e for e in listing["items"] if e["involvedObject"]["name"] == "fraud"]

    events = wait_for("a HandlerFailed Event", warning_events, timeout=30)
    timer_failures = [e for e in events if "step_rollout" in e["message"]]
    assert timer_failures, [e["message"] for e in events]
    assert all(e["type"] == "Warning" for e in events)
    assert any("status.strategy: missing" in e["message"] for e in timer_failures)
    # The timer fails on every retry; the same message is posted at most once a minute per object.
    messages = [e["message"] for e in events]
    assert len(messages) == len(set(messages)), messages
    assert all(isinstance(line, dict) for line in log_lines(operator_log))  # every line is one JSON object
