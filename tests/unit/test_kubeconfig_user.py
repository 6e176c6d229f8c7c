"""Whose exec plugin the login runs: the current context's user, across KUBECONFIG's files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferryman.k8s.exec_credentials import current_user

pytestmark = pytest.mark.unit


def _write(path: Path, **config: Any) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_current_context_of_the_first_file_that_names_one_picks_the_user_first_defined(
    tmp_path: Path,
) -> None:
    first = _write(
        tmp_path / "first",
        **{"current-context": "work"},
        users=[{"name": "alice", "user": {"exec": {"command": "first-plugin"}}}],
    )
    second = _write(
        tmp_path / "second",
        **{"current-context": "home"},
        contexts=[{"name": "work", "context": {"cluster": "c", "user": "alice"}}],
        users=[{"name": "alice", "user": {"exec": {"command": "second-plugin"}}}],
    )
    environ = {"KUBECONFIG": os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])}
    assert current_user(environ) == {"exec": {"command": "first-plugin"}}


def test_an_empty_kubeconfig_variable_means_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    _write(
        tmp_path / ".kube" / "config",
        **{"current-context": "dev"},
        contexts=[{"name": "dev", "context": {"cluster": "c", "user": "bob"}}],
        users=[{"name": "bob", "user": {"token": "t"}}],
    )
    assert current_user({"KUBECONFIG": ""}) == {"token": "t"}
    assert current_user({}) == {"token": "t"}


def test_no_kubeconfig_or_no_current_context_is_no_user(tmp_path: Path) -> None:
    assert current_user({"KUBECONFIG": str(tmp_path / "absent")}) == {}
    empty = _write(tmp_path / "empty", users=[{"name": "x", "user": {"token": "t"}}])
    assert current_user({"KUBECONFIG": str(empty)}) == {}
