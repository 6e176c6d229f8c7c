"""The model card's text."""

from __future__ import annotations

import pytest

from ferryman.train.card import ModelCard, render_card
from ferryman.train.data_checks import CheckResult

pytestmark = pytest.mark.unit

CARD = ModelCard(
    model_name="fraud",
    intended_use="Score card transactions.",
    run_id="r123",
    experiment="exp",
    data_uri="s3://bucket/tx.csv",
    data_version="2024-06",
    data_sha256="abc",
    metrics={"accuracy": 0.95, "champion.accuracy": 0.9},
    data_checks=[CheckResult("rows", "rowCount", None, 500.0, True, "data check 'rows' (rowCount) = 500")],
    params={"C": "1.0", "seed": "7"},
    training_job="ns/tj",
    training_job_uid="u-1",
    git_commit="deadbeef",
    image="img:1",
    command="python train.py",
)


def test_card_has_every_section_a_reviewer_needs() -> None:
    text = render_card(CARD)
    sections = ["# Model card: fraud", "## Intended use\n\nScore card transactions.", "## Data",
                "## Metrics", "## Data checks", "## Lineage", "## How to reproduce"]  # fmt: skip
    for section in sections:
        assert section in text


def test_card_records_data_metrics_gates_and_lineage() -> None:
    text = render_card(CARD)
    assert "- Location: s3://bucket/tx.csv\n- Version: 2024-06\n- Content SHA-256: abc" in text
    assert "| accuracy | 0.95 |" in text and "| champion.accuracy | 0.9 |" in text
    assert "| rows | 500 | yes | data check 'rows' (rowCount) = 500 |" in text
    assert "- TrainingJob: ns/tj" in text and "- Git commit: deadbeef" in text and "- Image: img:1" in text


def test_card_says_how_to_reproduce_with_the_seed() -> None:
    text = render_card(CARD)
    assert "1. Run image `img:1`.\n2. Check out commit `deadbeef`." in text
    assert "3. Use the data at s3://bucket/tx.csv, version 2024-06." in text
    assert "C=1.0, seed=7" in text and "5. Run `python train.py`." in text


def test_card_marks_what_was_not_recorded() -> None:
    text = render_card(ModelCard(model_name="m", intended_use="x", run_id="r", experiment="e"))
    assert "- Location: (not recorded)" in text and "## Metrics\n\n(none)" in text
