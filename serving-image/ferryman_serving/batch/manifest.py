"""What a batch run leaves beside its output parts: one summary per shard, then the manifest.

Every file appears whole (output.py: renamed from a temporary name, or one S3 upload), and the manifest
only once every shard of the run has written its summary, so a reader that finds `manifest.json` finds
every part it lists complete. Assembling the manifest is pure (`build_manifest`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ferryman_serving.batch.drift import psi
from ferryman_serving.profile import ReferenceProfile

MANIFEST_FORMAT = "ferryman.dev/batch-manifest/v1"
MANIFEST_FILENAME = "manifest.json"
SHARDS_DIRNAME = "_shards"


class ShardSummary(BaseModel):
    """What one shard did: written by the shard when its part is complete."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    index: int = Field(ge=0)
    shards: int = Field(ge=1)
    part: str = Field(description="File name of the shard's output part, relative to the output directory.")
    rows: int = Field(ge=0)
    model_uri: str
    model_version: str
    input_fingerprint: str
    started_at: float = Field(description="Unix time the shard started.")
    finished_at: float
    read_seconds: float
    score_seconds: float
    write_seconds: float
    feature_counts: dict[str, list[int]] = Field(default_factory=dict)
    prediction_counts: list[int] | None = None


class Histogram(BaseModel):
    """Counts per bin over the reference profile's edges, and the PSI against its proportions."""

    edges: list[float]
    counts: list[int]
    psi: float | None


class BatchManifest(BaseModel):
    """The run as a whole; written last."""

    format: str = MANIFEST_FORMAT
    run_id: str
    model_uri: str
    model_version: str
    input_uri: str
    input_fingerprint: str
    shards: int
    parts: list[str]
    rows: int
    rows_per_shard: list[int]
    started_at: float
    finished_at: float
    seconds: float = Field(description="From the first shard's start to the last shard's finish.")
    shard_seconds: list[float]
    features: dict[str, Histogram] | None = Field(
        default=None, description="Batch drift: per-feature histograms and PSI; None without a profile."
    )
    prediction: Histogram | None = None


def build_manifest(
    summaries: list[ShardSummary], input_uri: str, profile: ReferenceProfile | None
) -> BatchManifest:
    """The manifest of a run from all its shard summaries (one per index)."""
    ordered = sorted(summaries, key=lambda s: s.index)
    first = ordered[0]
    if [s.index for s in ordered] != list(range(first.shards)):
        raise ValueError(
            f"need one summary per shard 0..{first.shards - 1}, got {[s.index for s in ordered]}"
        )
    if len({(s.run_id, s.model_version, s.input_fingerprint) for s in ordered}) != 1:
        raise ValueError("shard summaries disagree on run id, model version or input fingerprint")
    started = min(s.started_at for s in ordered)
    finished = max(s.finished_at for s in ordered)
    return BatchManifest(
        run_id=first.run_id,
        model_uri=first.model_uri,
        model_version=first.model_version,
        input_uri=input_uri,
        input_fingerprint=first.input_fingerprint,
        shards=first.shards,
        parts=[s.part for s in ordered],
        rows=sum(s.rows for s in ordered),
        rows_per_shard=[s.rows for s in ordered],
        started_at=started,
        finished_at=finished,
        seconds=round(finished - started, 3),
        shard_seconds=[round(s.finished_at - s.started_at, 3) for s in ordered],
        features=_feature_histograms(ordered, profile),
        prediction=_prediction_histogram(ordered, profile),
    )


def _summed(lists: list[list[int]]) -> list[int]:
    return [sum(column) for column in zip(*lists, strict=True)]


def _feature_histograms(
    summaries: list[ShardSummary], profile: ReferenceProfile | None
) -> dict[str, Histogram] | None:
    if profile is None or any(not s.feature_counts for s in summaries):
        return None
    histograms = {}
    for feature in profile.features:
        counts = _summed([s.feature_counts[feature.name] for s in summaries])
        histograms[feature.name] = Histogram(
            edges=feature.edges, counts=counts, psi=psi(counts, feature.proportions)
        )
    return histograms


def _prediction_histogram(
    summaries: list[ShardSummary], profile: ReferenceProfile | None
) -> Histogram | None:
    if profile is None or profile.prediction is None or any(s.prediction_counts is None for s in summaries):
        return None
    counts = _summed([s.prediction_counts or [] for s in summaries])
    reference = profile.prediction
    return Histogram(edges=reference.edges, counts=counts, psi=psi(counts, reference.proportions))
