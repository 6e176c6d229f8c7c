"""Batch input and output beyond local disk, against real servers on loopback: an S3-compatible server
(moto) for s3:// input and output, and HTTP(S) file servers for a single https:// input file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from tests.serving.conftest import GB_VERSION
from tests.serving.test_batch_scoring import read_output, score_all_shards, write_parquet_parts
from tests.serving.tls_server import TlsFileServer

from ferryman_serving.batch.manifest import BatchManifest
from ferryman_serving.batch.run import ShardJob, run_shard
from ferryman_serving.settings import Settings
from ferryman_testing.file_server import StaticFileServer
from ferryman_testing.models import GradientBoostingFiles
from ferryman_testing.s3_server import S3Server

pytestmark = pytest.mark.serving

SECRET = "batch-secret-never-shown"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket("data")
        yield server


def s3_settings(s3: S3Server) -> Settings:
    return Settings(s3_endpoint_url=s3.url, s3_access_key_id="AKIDBATCH", s3_secret_access_key=SECRET)


def upload(s3: S3Server, local: Path, prefix: str) -> None:
    pafs.copy_files(
        str(local),
        f"data/{prefix}",
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=s3.filesystem(),
    )


def s3_job(
    s3: S3Server, model: GradientBoostingFiles, input_uri: str, output_uri: str, **fields: object
) -> ShardJob:
    base: dict[str, object] = {
        "model_uri": model.model_path.as_uri(), "input_uri": input_uri, "output_uri": output_uri,
        "run_id": "run-1", "shards": 2, "index": 0, "passthrough": ["id"], "batch_rows": 1000,
        "model_version": GB_VERSION, "settings": s3_settings(s3),
    }  # fmt: skip
    return ShardJob(**{**base, **fields})  # type: ignore[arg-type]


def read_s3_output(s3: S3Server, prefix: str) -> tuple[BatchManifest, pa.Table]:
    filesystem = s3.filesystem()
    with filesystem.open_input_stream(f"data/{prefix}/manifest.json") as source:
        manifest = BatchManifest.model_validate_json(source.read())
    parts = [pq.read_table(f"data/{prefix}/{part}", filesystem=filesystem) for part in manifest.parts]
    return manifest, pa.concat_tables(parts).sort_by("id")


def s3_names(s3: S3Server, prefix: str) -> list[str]:
    listed = s3.filesystem().get_file_info(pafs.FileSelector(f"data/{prefix}", allow_not_found=True))
    return sorted(info.base_name for info in listed)


def test_partitioned_parquet_on_s3_scores_like_local_disk(
    s3: S3Server, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """A partitioned directory (with Spark's _SUCCESS) under an S3 prefix, 2 shards, output on S3: exactly
    the rows and predictions of the same files on local disk; no credential in the manifest."""
    write_parquet_parts(tmp_path / "in" / "day=1", [1500, 900], row_group_rows=400)
    write_parquet_parts(tmp_path / "in" / "day=2", [700], row_group_rows=400)
    upload(s3, tmp_path / "in", "customers")
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "local", shards=2, run_id="run-1")
    for index in range(2):
        run_shard(s3_job(s3, gradient_boosting, "s3://data/customers/", "s3://data/scores", index=index))
    _, local = read_output(tmp_path / "local")
    manifest, remote = read_s3_output(s3, "scores")
    assert remote.equals(local)
    assert manifest.rows == 3100 and manifest.shards == 2 and manifest.input_uri == "s3://data/customers/"
    assert SECRET not in manifest.model_dump_json() and "AKIDBATCH" not in manifest.model_dump_json()
    assert s3_names(s3, "scores") == sorted(["_shards", *manifest.parts, "manifest.json"])


def test_s3_input_is_read_anonymously_without_keys(
    s3: S3Server, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """No FERRYMAN_S3_* keys: anonymous requests (a public bucket), the same rows and answers."""
    write_parquet_parts(tmp_path / "in", [800], row_group_rows=200)
    upload(s3, tmp_path / "in", "public-in")
    job = ShardJob(
        model_uri=gradient_boosting.model_path.as_uri(), input_uri="s3://data/public-in",
        output_uri=str(tmp_path / "out"), run_id="anonymous", passthrough=["id"],
        settings=Settings(s3_endpoint_url=s3.url),
    )  # fmt: skip
    assert run_shard(job) is not None
    score_all_shards(gradient_boosting, tmp_path / "in", tmp_path / "local", shards=1, run_id="anonymous")
    assert read_output(tmp_path / "out")[1].equals(read_output(tmp_path / "local")[1])


def test_s3_manifest_is_written_last_and_a_rerun_replaces_the_result(
    s3: S3Server, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """On S3 as on disk: a new run removes the previous manifest first, there is no manifest until its
    last shard, and the wider previous run's parts and summaries are gone when it appears."""
    write_parquet_parts(tmp_path / "in", [500, 500, 500], row_group_rows=500)
    upload(s3, tmp_path / "in", "rerun-in")
    for index in range(3):
        run_shard(
            s3_job(s3, gradient_boosting, "s3://data/rerun-in", "s3://data/rerun-out", shards=3, index=index)
        )
    assert "manifest.json" in s3_names(s3, "rerun-out")
    second = s3_job(s3, gradient_boosting, "s3://data/rerun-in", "s3://data/rerun-out", run_id="second")
    assert run_shard(second) is None
    assert "manifest.json" not in s3_names(s3, "rerun-out")
    manifest = run_shard(s3_job(s3, gradient_boosting, "s3://data/rerun-in", "s3://data/rerun-out",
                                run_id="second", index=1))  # fmt: skip
    assert manifest is not None and manifest.run_id == "second"
    assert [n for n in s3_names(s3, "rerun-out") if n.startswith("part-")] == manifest.parts
    assert s3_names(s3, "rerun-out/_shards") == ["second"]
    _, scored = read_s3_output(s3, "rerun-out")
    assert scored.column("id").to_pylist() == list(range(1500))


def run_cli(
    model: GradientBoostingFiles, input_uri: str, output_uri: str, trust: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m ferryman_serving.batch score` with FERRYMAN_<env> set (and a CA bundle to trust)."""
    command = [
        sys.executable, "-m", "ferryman_serving.batch", "score", "--model", model.model_path.as_uri(),
        "--input", input_uri, "--output", output_uri, "--passthrough", "id", "--model-version", GB_VERSION,
    ]  # fmt: skip
    environment = {**os.environ, **{f"FERRYMAN_{k.upper()}": v for k, v in env.items()}}
    if trust is not None:
        environment["SSL_CERT_FILE"] = str(trust)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=environment)


def test_command_line_scores_s3_to_s3_and_prints_no_secret(
    s3: S3Server, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """The command an Indexed Job pod runs, with keys in its environment: exit 0 (the S3 client shuts
    down cleanly), every row scored, and neither key in what it prints."""
    write_parquet_parts(tmp_path / "in", [600, 600], row_group_rows=300)
    upload(s3, tmp_path / "in", "cli-in")
    finished = run_cli(
        gradient_boosting, "s3://data/cli-in", "s3://data/cli-out",
        s3_endpoint_url=s3.url, s3_access_key_id="AKIDBATCH", s3_secret_access_key=SECRET,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert "scored 1200 rows" in finished.stdout
    assert SECRET not in finished.stderr + finished.stdout
    _, scored = read_s3_output(s3, "cli-out")
    assert scored.column("id").to_pylist() == list(range(1200))


def test_missing_bucket_exits_2_naming_the_field_and_no_secret(
    s3: S3Server, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    finished = run_cli(
        gradient_boosting, "s3://no-such-bucket/customers", str(tmp_path / "out"),
        s3_endpoint_url=s3.url, s3_access_key_id="AKIDBATCH", s3_secret_access_key=SECRET,
    )  # fmt: skip
    assert finished.returncode == 2, finished.stderr
    assert "spec.batch.input.uri" in finished.stderr and "bucket 'no-such-bucket'" in finished.stderr
    assert SECRET not in finished.stderr + finished.stdout
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize(
    ("input_uri", "output_uri", "field"),
    [
        ("ftp://host/data.parquet", "out", "spec.batch.input.uri"),
        ("in.parquet", "https://host/scores/", "spec.batch.output.uri"),
        ("https://127.0.0.1:9/data/", "out", "spec.batch.input.uri"),
    ],
)
def test_unusable_uri_exits_2_naming_the_field(
    gradient_boosting: GradientBoostingFiles, tmp_path: Path, input_uri: str, output_uri: str, field: str
) -> None:
    """A scheme batch cannot use (or an https directory, which HTTP cannot list): exit code 2, the field."""
    output = output_uri if "://" in output_uri else str(tmp_path / output_uri)
    finished = run_cli(gradient_boosting, input_uri, output)
    assert finished.returncode == 2, finished.stderr
    assert field in finished.stderr


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("www-batch")
    write_parquet_parts(root / "data", [1800], row_group_rows=500)
    return root


@pytest.fixture(scope="module")
def plain(www: Path) -> Iterator[StaticFileServer]:
    with StaticFileServer(www) as server:
        yield server


def test_https_file_scores_like_the_local_file_and_hides_the_query(
    plain: StaticFileServer, www: Path, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """One Parquet file over HTTP (a signed query string, as a presigned URL has), 2 shards: the local
    file's answers; the manifest names the URL without its query; the download is removed afterwards."""
    url = f"{plain.url}/data/part-0.parquet?X-Amz-Signature=s3cr3t"
    for index in range(2):
        job = ShardJob(
            model_uri=gradient_boosting.model_path.as_uri(), input_uri=url, output_uri=str(tmp_path / "http"),
            run_id="r", shards=2, index=index, passthrough=["id"], batch_rows=1000, model_version=GB_VERSION,
        )  # fmt: skip
        run_shard(job)
    score_all_shards(
        gradient_boosting, www / "data" / "part-0.parquet", tmp_path / "local", shards=1, run_id="r"
    )
    manifest, from_http = read_output(tmp_path / "http")
    _, from_disk = read_output(tmp_path / "local")
    assert from_http.equals(from_disk)
    assert manifest.input_uri == f"{plain.url}/data/part-0.parquet"
    np.testing.assert_array_equal(from_http.column("id").to_numpy(), np.arange(1800))


def test_https_redirect_to_http_and_oversize_input_are_refused(
    plain: StaticFileServer, www: Path, gradient_boosting: GradientBoostingFiles, tmp_path: Path
) -> None:
    """The model downloader's rules hold for batch input: no https -> http redirect, a size cap."""
    (tmp_path / "tls").mkdir()
    with TlsFileServer(www, tmp_path / "tls", plain.url) as tls:
        plain.seen.clear()
        redirected = f"{tls.url}/to-http/data/part-0.parquet"
        finished = run_cli(gradient_boosting, redirected, str(tmp_path / "out"), trust=tls.cert)
    assert finished.returncode == 2, finished.stderr
    assert "spec.batch.input.uri" in finished.stderr
    assert "redirect from https to http refused" in finished.stderr
    assert not [path for path, _ in plain.seen if path.endswith(".parquet")], "the http URL was fetched"
    size = (www / "data" / "part-0.parquet").stat().st_size
    capped = run_cli(gradient_boosting, f"{plain.url}/data/part-0.parquet", str(tmp_path / "out"),
                     batch_max_download_bytes=str(size - 1))  # fmt: skip
    assert capped.returncode == 2
    assert f"over FERRYMAN_BATCH_MAX_DOWNLOAD_BYTES ({size - 1})" in capped.stderr
