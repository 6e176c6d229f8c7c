"""The CLI at a terminal: a cluster it cannot ask, or settings it cannot use, give lines naming the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ferryman.cli import EXIT_BAD_SETTINGS, main
from ferryman.devcluster.__main__ import main as devcluster_main
from ferryman.k8s.client import api_connection

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "args", [["status", "fraud"], ["promote", "fraud", "-n", "ml"], ["approve", "tj", "weekly"]]
)
def test_no_kubeconfig_is_one_line_not_a_traceback(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """KUBECONFIG naming a file that is not there raised FileNotFoundError out of the command."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere.yaml"))
    api_connection.cache_clear()
    try:
        assert main(args) == 1
    finally:
        api_connection.cache_clear()
    error = capsys.readouterr().err
    assert error.startswith("ferryman: ") and "KUBECONFIG" in error and "Traceback" not in error, error
    assert len(error.strip().splitlines()) == 1, error


@pytest.mark.parametrize(
    "kubeconfig",
    ["a: [b\n", "apiVersion: v1\nkind: Config\nclusters: []\n"],
    ids=["not-yaml", "no-current-context"],
)
def test_a_broken_kubeconfig_is_one_line_not_a_traceback(
    kubeconfig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, a YAML error and Kopf's LoginError came out as tracebacks."""
    path = tmp_path / "config.yaml"
    path.write_text(kubeconfig)
    monkeypatch.setenv("KUBECONFIG", str(path))
    api_connection.cache_clear()
    try:
        assert main(["status", "fraud"]) == 1
    finally:
        api_connection.cache_clear()
    error = capsys.readouterr().err
    assert error.startswith("ferryman: ") and "KUBECONFIG" in error, error
    assert len(error.strip().splitlines()) == 1, error


def test_the_operator_refuses_bad_settings_naming_each_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, pydantic's traceback named the field (prometheus_url), never the variable to fix."""
    # `ferryman operator` blocks the kubernetes library in its process; undone after this test.
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    monkeypatch.setenv("FERRYMAN_PROMETHEUS_URL", "prom:9090")
    monkeypatch.setenv("FERRYMAN_MLFLOW_TRACKING_URI", "mlflow.internal:5000/s3cret-path")
    assert main(["operator"]) == EXIT_BAD_SETTINGS == 78
    error = capsys.readouterr().err
    first, *problems = error.strip().splitlines()
    assert first == "ferryman operator: cannot start:"
    assert sorted(line.split(":")[0] for line in problems) == [
        "FERRYMAN_MLFLOW_TRACKING_URI",
        "FERRYMAN_PROMETHEUS_URL",
    ]
    assert all("String should match pattern" in line for line in problems)
    assert "s3cret" not in error and "Traceback" not in error


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["env", "--nodes", "9"], {}, "--nodes (FERRYMAN_DEVCLUSTER_NODES): "),
        (["env"], {"FERRYMAN_DEVCLUSTER_NODES": "abc"}, "--nodes (FERRYMAN_DEVCLUSTER_NODES): "),
        (["env", "--name", "Bad/Name"], {}, "--name (FERRYMAN_DEVCLUSTER_NAME): "),
    ],
)
def test_the_dev_cluster_refuses_bad_settings_naming_the_flag_and_the_variable(
    args: list[str],
    env: dict[str, str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert devcluster_main(args) == 2
    error = capsys.readouterr().err
    assert error.splitlines()[1].startswith(named) and "Traceback" not in error, error


def test_cluster_commands_without_the_operator_extra_name_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ferryman` comes with every extra; `status` needs kopf, which only the `operator` extra brings."""
    monkeypatch.setitem(sys.modules, "kopf", None)  # as if not installed
    assert main(["status", "fraud"]) == 1
    error = capsys.readouterr().err
    assert error == "ferryman status: needs the operator extra: pip install 'ferryman[operator]'\n"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["status", "a/../../x"], "argument name: 'a/../../x' is not an object name"),
        (["promote", "fraud", "-n", "Bad NS"], "argument -n/--namespace: 'Bad NS' is not a namespace name"),
    ],
)
def test_names_that_are_not_kubernetes_names_are_refused_before_any_request(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """They went into the request path unchecked: `a/../../x` asked for another resource."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
