"""The model card: a markdown page logged beside the model (`model/model_card.md`). Pure text building."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ferryman.train.data_checks import CheckResult


@dataclass(frozen=True)
class ModelCard:
    """Everything the card says; the training run fills it from what it logged."""

    model_name: str
    intended_use: str
    run_id: str
    experiment: str
    data_uri: str | None = None
    data_version: str | None = None
    data_sha256: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    data_checks: Sequence[CheckResult] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    training_job: str | None = None
    training_job_uid: str | None = None
    git_commit: str | None = None
    image: str | None = None
    command: str | None = None


def render_card(card: ModelCard) -> str:
    """The card as markdown: intended use, data, metrics, gates, lineage, how to reproduce."""
    sections = [
        f"# Model card: {card.model_name}",
        f"## Intended use\n\n{card.intended_use}",
        "## Data\n\n" + _items(
            ("Location", card.data_uri), ("Version", card.data_version), ("Content SHA-256", card.data_sha256)
        ),
        "## Metrics\n\n" + _table(
            ("Metric", "Value"), [(k, f"{v:g}") for k, v in sorted(card.metrics.items())]
        ),
        "## Data checks\n\n" + _table(
            ("Check", "Value", "Passed", "Detail"),
            [(r.name, "-" if r.value is None else f"{r.value:g}", "yes" if r.passed else "NO", r.message)
             for r in card.data_checks],
        ) + "\n\nMetric and champion gates are judged by the operator from the metrics above.",
        "## Lineage\n\n" + _items(
            ("MLflow run", card.run_id), ("Experiment", card.experiment),
            ("TrainingJob", card.training_job), ("TrainingJob UID", card.training_job_uid),
            ("Git commit", card.git_commit), ("Image", card.image),
        ),
        "## How to reproduce\n\n" + _reproduce(card),
    ]  # fmt: skip
    return "\n\n".join(sections) + "\n"


def _items(*pairs: tuple[str, str | None]) -> str:
    return "\n".join(f"- {label}: {value if value else '(not recorded)'}" for label, value in pairs)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return "(none)"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _reproduce(card: ModelCard) -> str:
    steps = []
    if card.image:
        steps.append(f"Run image `{card.image}`.")
    if card.git_commit:
        steps.append(f"Check out commit `{card.git_commit}`.")
    data = card.data_uri or "the same data"
    steps.append(
        f"Use the data at {data}" + (f", version {card.data_version}." if card.data_version else ".")
    )
    if card.params:
        params = ", ".join(f"{k}={v}" for k, v in sorted(card.params.items()))
        steps.append(f"Set the params (FERRYMAN_PARAMS, JSON): {params} (the seed included).")
    if card.command:
        steps.append(f"Run `{card.command}`.")
    return "\n".join(f"{index}. {step}" for index, step in enumerate(steps, start=1))
