"""The batch manifest: sums over shards, batch drift against the reference profile, written last."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow.fs import LocalFileSystem

from ferryman.drift.statistics import psi as monitor_psi
from ferryman_serving.batch.drift import BinCounts, psi
from ferryman_serving.batch.manifest import ShardSummary, build_manifest
from ferryman_serving.batch.output import write_atomically
from ferryman_serving.batch.storage import Place
from ferryman_serving.profile import FeatureProfile, PredictionProfile, ReferenceProfile, bin_indices

pytestmark = pytest.mark.unit

PROFILE = ReferenceProfile(
    n_samples=100,
    features=[FeatureProfile(name="f0", edges=[0.0], proportions=[0.5, 0.5])],
    prediction=PredictionProfile(edges=[1.0, 2.0], proportions=[0.2, 0.5, 0.3]),
)


def summary(
    index: int, rows: int, f0: list[int], prediction: list[int], start: float, end: float
) -> ShardSummary:
    return ShardSummary(
        run_id="r1", index=index, shards=2, part=f"part-{index}", rows=rows, model_uri="models:/m/3",
        model_version="3", input_fingerprint="sha256:x", started_at=start, finished_at=end,
        read_seconds=0.1, score_seconds=0.2, write_seconds=0.1,
        feature_counts={"f0": f0}, prediction_counts=prediction,
    )  # fmt: skip


def test_manifest_sums_rows_and_histograms_over_shards() -> None:
    """Rows, counts and the run's span come from all shards; PSI uses the summed counts."""
    manifest = build_manifest(
        [summary(1, 40, [10, 30], [8, 20, 12], 5.0, 9.0), summary(0, 60, [40, 20], [12, 30, 18], 4.0, 8.0)],
        "file:///data",
        PROFILE,
    )
    assert (manifest.rows, manifest.rows_per_shard, manifest.parts) == (100, [60, 40], ["part-0", "part-1"])
    assert (manifest.seconds, manifest.shard_seconds) == (5.0, [4.0, 4.0])
    assert manifest.features is not None and manifest.features["f0"].counts == [50, 50]
    assert manifest.features["f0"].psi == pytest.approx(0.0)
    assert manifest.prediction is not None and manifest.prediction.counts == [20, 50, 30]
    assert manifest.prediction.psi == pytest.approx(0.0)


def test_manifest_needs_every_shard() -> None:
    with pytest.raises(ValueError, match="one summary per shard"):
        build_manifest([summary(1, 40, [10, 30], [8, 20, 12], 5.0, 9.0)], "file:///data", PROFILE)


def test_manifest_without_profile_has_no_drift_section() -> None:
    manifest = build_manifest(
        [summary(0, 1, [1, 0], [1, 0, 0], 0.0, 1.0), summary(1, 1, [1, 0], [1, 0, 0], 0.0, 1.0)], "x", None
    )
    assert manifest.features is None and manifest.prediction is None


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(st.integers(0, 1000), min_size=2, max_size=12),
    seed=st.integers(0, 2**31),
)
def test_batch_psi_is_the_drift_monitors_psi(counts: list[int], seed: int) -> None:
    """The serving image's copy of PSI gives the operator's number (same floor, same formula)."""
    reference = np.random.default_rng(seed).dirichlet(np.ones(len(counts))).tolist()
    if sum(counts) == 0:
        assert psi(counts, reference) is None
    else:
        assert psi(counts, reference) == pytest.approx(monitor_psi(counts, reference), rel=1e-12)


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "manifest.json"
    place = Place(LocalFileSystem(), str(target), str(target))
    write_atomically(place, "{}")
    write_atomically(place, '{"a": 1}')
    assert target.read_text() == '{"a": 1}'
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]


@settings(max_examples=100, deadline=None)
@given(
    edges=st.lists(st.floats(-5, 5, allow_nan=False), min_size=0, max_size=8, unique=True).map(sorted),
    values=st.lists(
        st.one_of(st.floats(-6, 6), st.sampled_from([float("nan"), -1.0, 0.0, 1.0])), max_size=60
    ),
)
def test_batch_bin_counts_follow_the_profiles_le_rule(edges: list[float], values: list[float]) -> None:
    """Binary-search counting equals the profile's own binning (edges inclusive above, NaN last)."""
    column = np.asarray(values, dtype=np.float32)
    counts = BinCounts([edges])
    counts.observe(column.reshape(-1, 1))
    expected = (
        np.bincount(bin_indices(column, edges), minlength=len(edges) + 1)
        if values
        else np.zeros(len(edges) + 1)
    )
    assert counts.of(0) == [int(c) for c in expected]
