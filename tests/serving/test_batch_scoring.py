"""Batch scoring on real files with real ONNX Runtime: complete and exact output, the online server's
answers for the same rows, a manifest written last, and reruns that replace the previous result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from tests.serving.conftest import GB_VERSION

from ferryman_serving.batch.__main__ import main as batch_main
from ferryman_serving.batch.manifest import BatchManifest
from ferryman_serving.batch.run import ShardJob, run_shard
from ferryman_testing.models import FEATURES, GradientBoostingFiles
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

COLUMNS = [f"f{i}" for i in range(FEATURES)]


def dataset_table(rows: int, seed: int, first_id: int = 0) -> pa.Table:
    """An id column and 20 float32 features, a little shifted from the training data."""
    values = np.random.default_rng(seed).normal(0.3, 1.1, (rows, FEATURES)).astype(np.float32)
    columns = {"id": pa.array(np.arange(first_id, first_id + rows, dtype=np.int64))}
    columns.update({name: pa.array(values[:, i]) for i, name in enumerate(COLUMNS)})
    return pa.table(columns)


def write_parquet_parts(directory: Path, sizes: list[int], row_group_rows: int) -> pa.Table:
    """Parts of the given sizes (each with row groups of row_group_rows) and a _SUCCESS marker."""
    directory.mkdir(parents=True)
    tables, first = [], 0
    for index, size in enumerate(sizes):
        table = dataset_table(size, seed=index, first_id=first)
        pq.write_table(table, directory / f"part-{index}.parquet", row_group_size=row_group_rows)
        tables.append(table)
        first += size
    (directory / "_SUCCESS").write_text("")
    return pa.concat_tables(tables)


def read_output(output: Path) -> tuple[BatchManifest, pa.Table]:
    manifest = BatchManifest.model_validate_json((output / "manifest.json").read_bytes())
    table = pa.concat_tables(pq.read_table(output / part) for part in manifest.parts)
    return manifest, table.sort_by("id")


def score_all_shards(
    files: GradientBoostingFiles, data: Path, output: Path, shards: int, run_id: str
) -> None:
    for index in range(shards):
        job = ShardJob(
            model_uri=files.model_path.as_uri(), input_uri=str(data), output_uri=str(output), run_id=run_id,
            shards=shards, index=index, passthrough=["id"], batch_rows=1000, model_version=GB_VERSION,
        )  # fmt: skip
        run_shard(job)


def online_answers(server: ServingProcess, table: pa.Table) -> np.ndarray:
    """What the online server answers for these rows, 100 rows per request (JSON, 64 KiB limit)."""
    matrix = np.column_stack([table.column(c).to_numpy() for c in COLUMNS])
    answers = []
    for start in range(0, len(matrix), 100):
        rows = matrix[start : start + 100].tolist()
        request = {
            "inputs": [{"name": "features", "shape": [len(rows), FEATURES], "datatype": "FP32", "data": rows}]
        }
        reply = httpx.post(f"{server.url}/v2/models/fraud/infer", json=request)
        assert reply.status_code == 200, reply.text
        answers.extend(reply.json()["outputs"][0]["data"])
    return np.asarray(answers, dtype=np.float32)


def test_three_shards_score_every_row_once_with_the_online_answers(
    gradient_boosting: GradientBoostingFiles, gb_server: ServingProcess, tmp_path: Path
) -> None:
    """Two files, three shards (row groups): every id once, and each prediction equals, bit for bit,
    what the online server answers for the same row."""
    table = write_parquet_parts(tmp_path / "in", [2500, 1500], row_group_rows=700)
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "out", shards=3, run_id="run-1")
    manifest, scored = read_output(tmp_path / "out")
    assert scored.column("id").to_pylist() == list(range(4000))
    assert manifest.rows == 4000 and sum(manifest.rows_per_shard) == 4000 and len(manifest.parts) == 3
    assert manifest.model_version == GB_VERSION and manifest.input_fingerprint.startswith("sha256:")
    np.testing.assert_array_equal(
        scored.column("variable").to_numpy(), online_answers(gb_server, table.sort_by("id"))
    )


def test_manifest_has_batch_drift_against_the_reference_profile(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """The input is shifted by 0.3 standard deviations: every feature's PSI is clearly above zero, and
    each histogram counts every row."""
    write_parquet_parts(tmp_path / "in", [3000], row_group_rows=1000)
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "out", shards=2, run_id="run-1")
    manifest, _ = read_output(tmp_path / "out")
    assert manifest.features is not None and set(manifest.features) == set(COLUMNS)
    for histogram in manifest.features.values():
        assert sum(histogram.counts) == 3000
        assert histogram.psi is not None and histogram.psi > 0.05
    assert manifest.prediction is not None and sum(manifest.prediction.counts) == 3000


def test_csv_input_gives_the_parquet_answers(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """The same rows as CSV score to the same predictions (float32 text round-trips exactly)."""
    table = write_parquet_parts(tmp_path / "in", [1200], row_group_rows=1200)
    (tmp_path / "csv").mkdir()
    pa_csv.write_csv(table, tmp_path / "csv" / "data.csv")
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "out-parquet", shards=1, run_id="a")
    score_all_shards(gradient_boosting, tmp_path / "csv", tmp_path / "out-csv", shards=2, run_id="a")
    _, from_parquet = read_output(tmp_path / "out-parquet")
    _, from_csv = read_output(tmp_path / "out-csv")
    np.testing.assert_array_equal(
        from_csv.column("variable").to_numpy(), from_parquet.column("variable").to_numpy()
    )


def test_manifest_appears_only_after_the_last_shard(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """Until every shard has finished there is no manifest; a rerun removes the previous run's manifest
    at its start and the parts of the previous, wider run before its own manifest."""
    write_parquet_parts(tmp_path / "in", [500, 500, 500, 500], row_group_rows=500)
    out = tmp_path / "out"
    score_all_shards(gradient_boosting, tmp_path / "in", out, shards=4, run_id="first")
    job = ShardJob(
        model_uri=gradient_boosting.model_path.as_uri(), input_uri=str(tmp_path / "in"), output_uri=str(out),
        run_id="second", shards=2, index=0, passthrough=["id"],
    )  # fmt: skip
    assert run_shard(job) is None
    assert not (out / "manifest.json").exists()
    manifest = run_shard(ShardJob(**{**job.__dict__, "index": 1}))
    assert manifest is not None and manifest.run_id == "second"
    assert sorted(p.name for p in out.glob("part-*")) == manifest.parts
    _, scored = read_output(out)
    assert scored.column("id").to_pylist() == list(range(2000))


def test_files_in_the_output_directory_that_are_not_its_parts_are_left_alone(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """An output directory that already holds a Spark job's part-00000-<uuid>.snappy.parquet: every
    part-*.parquet was taken for a part of an earlier run and deleted."""
    write_parquet_parts(tmp_path / "in", [300], row_group_rows=300)
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "part-00000-7f3c2b1e.snappy.parquet"
    pq.write_table(dataset_table(10, seed=9), theirs)
    score_all_shards(gradient_boosting, tmp_path / "in", out, shards=1, run_id="only")
    assert theirs.exists(), "a file this run did not make was deleted"
    assert (out / "part-00000-of-00001.parquet").exists()


def test_command_line_names_the_missing_column(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """Bad input is an error naming the column, exit code 2, no manifest."""
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1], "f0": [0.5]}), tmp_path / "in" / "x.parquet")
    code = batch_main(
        ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in"),
         "--output", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 2
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_missing_pass_through_or_feature_column_is_named_not_a_traceback(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """--passthrough of a column the input lacks raised KeyError (Parquet); a CSV file without one of the
    features raised KeyError in Table.select. Both now exit 2 naming the column."""
    table = dataset_table(5, seed=1)
    data = tmp_path / f"in.{suffix}"
    pq.write_table(table, data) if suffix == "parquet" else pa_csv.write_csv(table.drop(["f3"]), data)
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(data),
            "--output", str(tmp_path / "out"), "--passthrough", "customer"]  # fmt: skip
    assert batch_main(args) == 2
    error = capsys.readouterr().err
    missing = "['customer']" if suffix == "parquet" else "['f3', 'customer']"
    assert f"input has no column(s) {missing}" in error, error


def test_an_output_that_cannot_be_a_directory_is_named(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output naming an existing file gave a FileExistsError traceback."""
    write_parquet_parts(tmp_path / "in", [10], row_group_rows=10)
    taken = tmp_path / "scores.parquet"
    taken.write_bytes(b"not a directory")
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in"),
            "--output", str(taken)]  # fmt: skip
    assert batch_main(args) == 2
    assert f"spec.batch.output.uri (--output): cannot use {taken} as a directory" in capsys.readouterr().err


def test_a_model_file_that_is_not_there_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The message pointed at FERRYMAN_MODEL_URI, a variable batch scoring never reads."""
    write_parquet_parts(tmp_path / "in", [10], row_group_rows=10)
    args = ["score", "--model", str(tmp_path / "nope" / "model.onnx"), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert batch_main(args) == 2
    assert "--model of ferryman batch score" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        # Wrote _shards/../../evil/shard-00000.json: outside the output directory.
        ("--run-id", "../../evil", "names a directory in the output"),
        ("--shards", "0", "0 is not a count"),
        # With both, --all-shards won silently.
        ("--shard-index", "1", "not allowed with argument --all-shards"),
        ("--batch-rows", "-3", "-3 is not a count"),
    ],
)
def test_arguments_out_of_range_are_refused_by_name(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    option: str, value: str, says: str,
) -> None:  # fmt: skip
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path),
            "--output", str(tmp_path / "out"), "--all-shards", option, value]  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        batch_main(args)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {option}" in error and says in error, error
    assert not (tmp_path.parent / "evil").exists()


def test_several_shards_need_to_know_which_one_to_score(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--shards 2` alone scored shard 0, wrote no manifest and said nothing. Now it names the three ways;
    a shard that leaves the other to do says so, and the last one writes the manifest."""
    write_parquet_parts(tmp_path / "in", [10, 10], row_group_rows=10)
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out"), "--shards", "2"]  # fmt: skip
    assert batch_main(args) == 2
    error = capsys.readouterr().err
    assert "--shard-index N" in error and "--all-shards" in error and "JOB_COMPLETION_INDEX" in error, error
    assert not (tmp_path / "out").exists()
    assert batch_main([*args, "--shard-index", "1"]) == 0
    assert "scored shard 1 of 2; the manifest is written when every shard" in capsys.readouterr().out
    assert batch_main([*args, "--shard-index", "0"]) == 0
    assert "scored 20 rows" in capsys.readouterr().out
    assert (tmp_path / "out" / "manifest.json").exists()


def test_an_output_inside_the_input_is_refused(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run into in/scores worked; the next read its parts as input and failed on their columns."""
    write_parquet_parts(tmp_path / "in", [10], row_group_rows=10)
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "in" / "scores")]  # fmt: skip
    assert batch_main(args) == 2
    assert "is inside the input" in capsys.readouterr().err
    assert not (tmp_path / "in" / "scores").exists()


def test_a_pass_through_column_named_like_an_output_is_refused(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two columns named "variable" made a part that pyarrow then would not read (exit code 0 before)."""
    table = dataset_table(5, seed=2)
    pq.write_table(table.append_column("variable", pa.array([1.0] * 5)), tmp_path / "in.parquet")
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in.parquet"),
            "--output", str(tmp_path / "out"), "--passthrough", "variable"]  # fmt: skip
    assert batch_main(args) == 2
    assert "pass-through column 'variable' has the name of a model output column" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content"), [("broken.parquet", b"PAR1 not"), ("ragged.csv", b"f0,f1\n1,2\n3,4,5\n")]
)
def test_a_file_pyarrow_cannot_read_is_named(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    name: str, content: bytes,
) -> None:  # fmt: skip
    """pyarrow's "Parquet file size is 8 bytes" or "CSV parse error" did not say which file of many."""
    write_parquet_parts(tmp_path / "in", [10], row_group_rows=10)
    (tmp_path / "in" / name).write_bytes(content)
    args = ["score", "--model", str(gradient_boosting.model_path), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert batch_main(args) == 2
    assert (
        f"spec.batch.input.uri (--input): cannot read {tmp_path / 'in' / name}: " in capsys.readouterr().err
    )


def test_an_input_without_rows_scores_zero_rows(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """An empty Parquet file and a CSV file with only its header: an empty part and a manifest of 0 rows.

    Before: StopIteration out of the run (exit code 1), so a nightly run of an empty day failed.
    """
    (tmp_path / "parquet").mkdir()
    pq.write_table(dataset_table(0, seed=1), tmp_path / "parquet" / "empty.parquet")
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "header.csv").write_text(",".join(["id", *COLUMNS]) + "\n")
    for kind in ("parquet", "csv"):
        score_all_shards(
            gradient_boosting, tmp_path / kind, tmp_path / f"out-{kind}", shards=2, run_id="empty"
        )
        manifest, table = read_output(tmp_path / f"out-{kind}")
        assert manifest.rows == 0 and len(manifest.parts) == 2
        assert table.num_rows == 0 and table.column_names == ["id", "variable"]


def test_ferryman_batch_score_runs_every_shard_from_a_laptop(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """`ferryman batch score --shards 2 --all-shards` on a file: the same answers as the function."""
    write_parquet_parts(tmp_path / "in", [900], row_group_rows=300)
    command = [
        str(Path(sys.executable).with_name("ferryman")), "batch", "score",
        "--model", gradient_boosting.model_path.as_uri(), "--input", str(tmp_path / "in" / "part-0.parquet"),
        "--output", str(tmp_path / "cli"), "--shards", "2", "--all-shards", "--passthrough", "id",
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "scored 900 rows" in finished.stdout
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "function", shards=1, run_id="f")
    _, from_cli = read_output(tmp_path / "cli")
    _, from_function = read_output(tmp_path / "function")
    assert from_cli.equals(from_function)
