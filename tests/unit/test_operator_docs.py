"""docs/operator.md is a promise: every operator setting is in it, with its default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferryman.config import Settings

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    field = Settings.model_fields[name]
    default = field.default if field.default_factory is None else field.default_factory()  # type: ignore[call-arg]
    shown = default if isinstance(default, str) else json.dumps(default)
    assert f"| `FERRYMAN_{name.upper()}` | `{shown}` |" in DOC.read_text()
