"""`ferryman status|promote|abort|resume|approve|reject` without a cluster to ask: one line, exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferryman.cli import main
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
