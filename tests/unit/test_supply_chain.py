"""Builds verify what they download, and every test run installs the same Python versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(path for path in (ROOT / "scripts").iterdir() if path.is_file())
# Each of these turns off Go's verification of modules against the checksum database.
UNVERIFIED_GO = re.compile(r"GOSUMDB=\S*off|GONOSUMDB|GONOSUMCHECK|GOINSECURE|GOFLAGS=[^\n]*-insecure")


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.name for path in SCRIPTS])
def test_no_script_turns_off_go_checksum_verification(script: Path) -> None:
    assert not UNVERIFIED_GO.search(script.read_text()), f"{script.name} disables module verification"


def test_every_python_dependency_is_pinned_and_the_test_script_uses_the_pins() -> None:
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and line[0] != "#"]
    assert lines, "constraints.txt is empty: run scripts/refresh-constraints"
    unpinned = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.-]+(\[[^\]]+\])?==[^\s=]+", line)]
    assert not unpinned
    names = {re.split(r"[=\[]", line)[0].lower().replace("_", "-") for line in lines}
    assert {"kopf", "kubernetes", "pydantic", "onnxruntime", "pytest"} <= names
    assert "pip install -q -c constraints.txt" in (ROOT / "scripts" / "test").read_text()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_operator_image_installs_exactly_what_the_operator_needs() -> None:
    """operator/requirements.txt (the image's list) names the core dependencies and the operator extra of
    pyproject.toml, no more and no less: a dependency added to one and not the other broke the image once."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["operator"]]}
    listed = (ROOT / "operator" / "requirements.txt").read_text().splitlines()
    assert {_name(line) for line in listed if line.strip() and not line.startswith("#")} == wanted
