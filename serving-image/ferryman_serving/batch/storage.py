"""Where a batch run reads and writes: a URI becomes a pyarrow filesystem and a path in it (the one seam).

- a path or `file://`: the local filesystem (a volume the pods mount);
- `s3://bucket/prefix`: pyarrow's S3 filesystem on the model loaders' settings (FERRYMAN_S3_ENDPOINT_URL,
  path-style; SigV4 with FERRYMAN_S3_ACCESS_KEY_ID/SECRET_ACCESS_KEY, else anonymous). A prefix is listed
  like a directory, and Parquet is read by ranges: the footer, then only the shard's row groups, so a
  shard never downloads the other shards' data;
- `https://` (and `http://`, as the model loader): one `.parquet` or `.csv` file, downloaded to local
  temporary space by the model downloader's client (no https -> http redirect, a size cap), because HTTP
  has no listing and range support is not universal. Input only: HTTP has no way to write.

Credentials come from Settings only and never appear in a message: messages carry redacted URIs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

from ferryman_serving.settings import Settings
from ferryman_serving.sources import ModelSourceError, download, download_client, redact

INPUT_FIELD = "spec.batch.input.uri (--input)"
OUTPUT_FIELD = "spec.batch.output.uri (--output)"
DATA_SUFFIXES = (".parquet", ".csv")


class BatchInputError(Exception):
    """The input or output cannot be used; the message names the field and what to change."""


@dataclass(frozen=True)
class Place:
    """A file or directory in a filesystem; `uri` is the redacted URI, for messages and the manifest."""

    filesystem: pafs.FileSystem
    path: str
    uri: str
    # S3 has no rename: an object appears whole when its upload completes. A local file is written under
    # a temporary name and renamed.
    renames: bool = True
    # For a downloaded https file: the SHA-256 of its content (its local copy's mtime says nothing).
    content_sha256: str | None = None

    def child(self, *names: str) -> Place:
        return Place(self.filesystem, "/".join([self.path.rstrip("/"), *names]), self.uri, self.renames)


def s3_filesystem(settings: Settings) -> pafs.S3FileSystem:
    """pyarrow's S3 client on the serving settings. Without keys it is anonymous: it must not look for
    AWS credentials elsewhere (environment, ~/.aws, the EC2 metadata service)."""
    endpoint = urlsplit(settings.s3_endpoint_url) if settings.s3_endpoint_url else None
    secret = settings.s3_secret_access_key
    keys = (
        {"access_key": settings.s3_access_key_id, "secret_key": secret.get_secret_value()}
        if settings.s3_access_key_id and secret is not None
        else {"anonymous": True}
    )
    return pafs.S3FileSystem(
        region=settings.s3_region,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        connect_timeout=settings.download_timeout_seconds,
        request_timeout=settings.download_timeout_seconds,
        **keys,
    )


def _scheme(uri: str) -> str:
    return urlsplit(uri).scheme if "://" in uri or uri.startswith("file:") else ""


def _local(uri: str) -> Place:
    path = unquote(urlsplit(uri).path) if _scheme(uri) == "file" else uri
    return Place(pafs.LocalFileSystem(), os.path.abspath(path), redact(uri) if _scheme(uri) else uri)


def _s3(uri: str, settings: Settings, field: str) -> Place:
    parts = urlsplit(uri)
    if not parts.netloc:
        raise BatchInputError(f"{field}: {redact(uri)} has no bucket; write s3://BUCKET/PREFIX")
    filesystem = s3_filesystem(settings)
    try:
        bucket = filesystem.get_file_info(parts.netloc)
    except OSError as error:
        raise BatchInputError(f"{field}: cannot reach {redact(uri)}: {error}") from None
    if bucket.type != pafs.FileType.Directory:
        endpoint = settings.s3_endpoint_url or f"AWS S3 ({settings.s3_region})"
        raise BatchInputError(
            f"{field}: bucket {parts.netloc!r} of {redact(uri)} does not exist at {endpoint} "
            "(FERRYMAN_S3_ENDPOINT_URL)"
        )
    path = f"{parts.netloc}/{unquote(parts.path).strip('/')}".rstrip("/")
    return Place(filesystem, path, redact(uri), renames=False)


def _unsupported(uri: str, field: str, allowed: str) -> BatchInputError:
    return BatchInputError(f"{field}: unsupported scheme {_scheme(uri)!r} in {redact(uri)}; use {allowed}")


def output_place(uri: str, settings: Settings) -> Place:
    """Where the parts and the manifest go: a local directory or an S3 prefix."""
    scheme = _scheme(uri)
    if scheme in ("", "file"):
        return _local(uri)
    if scheme == "s3":
        return _s3(uri, settings, OUTPUT_FIELD)
    raise _unsupported(uri, OUTPUT_FIELD, "a path, file:// or s3:// (https:// cannot be written)")


@contextmanager
def input_place(uri: str, settings: Settings) -> Iterator[Place]:
    """The input, for the length of the block (a downloaded https file is removed after it)."""
    scheme = _scheme(uri)
    if scheme in ("", "file"):
        yield _local(uri)
    elif scheme == "s3":
        yield _s3(uri, settings, INPUT_FIELD)
    elif scheme in ("http", "https"):
        with tempfile.TemporaryDirectory(prefix="ferryman-batch-input-") as directory:
            yield _download(uri, settings, Path(directory))
    else:
        raise _unsupported(uri, INPUT_FIELD, "a path, file://, s3:// or https://")


def _download(uri: str, settings: Settings, directory: Path) -> Place:
    name = unquote(urlsplit(uri).path).rpartition("/")[2]
    if not name.endswith(DATA_SUFFIXES):
        raise BatchInputError(
            f"{INPUT_FIELD}: {redact(uri)} must name one .parquet or .csv file (HTTP cannot list a "
            "directory; use s3:// for a partitioned dataset)"
        )
    target = directory / name
    try:
        with download_client(settings) as client:
            download(
                client,
                uri,
                target,
                {},
                settings.batch_max_download_bytes,
                "FERRYMAN_BATCH_MAX_DOWNLOAD_BYTES",
            )
    except ModelSourceError as error:
        raise BatchInputError(f"{INPUT_FIELD}: {error}") from None
    digest = hashlib.sha256()
    with target.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return Place(pafs.LocalFileSystem(), str(target), redact(uri), content_sha256=digest.hexdigest())
