"""docs/training.md is a promise: every variable the operator gives a trainer and every name the trainer
logs for the operator is in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferryman.api import training_contract as contract

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[3] / "docs" / "training.md").read_text(encoding="utf-8")
TRAINER_NAMES = [
    name
    for name in dir(contract)
    if name.startswith(("ENV_", "RUN_TAG_", "SERVING_")) or name.endswith("_PREFIX")
]


@pytest.mark.parametrize("constant", TRAINER_NAMES)
def test_every_contract_name_is_documented(constant: str) -> None:
    value = getattr(contract, constant)
    assert f"`{value}" in DOC, f"docs/training.md does not mention {constant} = {value!r}"
