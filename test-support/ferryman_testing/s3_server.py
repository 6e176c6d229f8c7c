"""A real S3-compatible server on 127.0.0.1 (moto's server mode) in a thread, for batch storage tests.

moto answers the S3 REST API (ListObjectsV2, ranged GET, multipart upload, DeleteObjects) over HTTP, so
the code under test talks S3 the way it would to MinIO or AWS; it does not check signatures.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import pyarrow.fs as pafs
from moto.server import ThreadedMotoServer


class S3Server:
    """`with S3Server() as s3:` serves S3 at `s3.url`; `s3.filesystem()` reaches it as an admin would."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> Self:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.stop()

    def filesystem(self) -> pafs.S3FileSystem:
        """A client that may create buckets (the product's never does)."""
        return pafs.S3FileSystem(
            endpoint_override=self.url.removeprefix("http://"),
            scheme="http",
            region="us-east-1",
            access_key="admin",
            secret_key="admin-secret",
            allow_bucket_creation=True,
        )

    def create_bucket(self, name: str) -> None:
        self.filesystem().create_dir(name)
