"""Bring a model (and its optional reference profile) from its URI to local files.

Supported: file://, http(s)://, s3:// (S3-compatible endpoint, path-style) and MLflow models:/ URIs.
A location names the model file or a directory holding `model.onnx`; `profile.json` sits beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from ferryman_serving.profile import PROFILE_FILENAME
from ferryman_serving.settings import Settings

MODEL_FILENAME = "model.onnx"


class ModelSourceError(Exception):
    """The model could not be fetched; the message says what to check (never contains secrets)."""


@dataclass(frozen=True)
class LocalModel:
    """Local files of a fetched model, and the registry version when the source knows one."""

    model_path: Path
    profile_path: Path | None
    version: str | None
    source_scheme: str


def redact(uri: str) -> str:
    """The URI without credentials or query string (presigned URLs carry signatures there)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def fetch_model(settings: Settings) -> LocalModel:
    """Resolve settings.model_uri to local files, downloading when needed."""
    uri = settings.model_uri
    if not uri:
        raise ModelSourceError("FERRYMAN_MODEL_URI is empty; set it to e.g. file:///models/fraud/model.onnx")
    scheme = urlsplit(uri).scheme or "file"
    if scheme == "file":
        return _local(Path(unquote(urlsplit(uri).path) if uri.startswith("file:") else uri))
    if scheme in ("http", "https"):
        return _download_pair(uri, settings, scheme, _no_headers)
    if scheme == "s3":
        from ferryman_serving.s3 import s3_http_url, s3_signed_headers

        url = s3_http_url(uri, settings)
        return _download_pair(url, settings, "s3", lambda u: s3_signed_headers(u, settings))
    if scheme == "models":
        from ferryman_serving.mlflow_registry import fetch_registered_model

        return fetch_registered_model(uri, settings)
    raise ModelSourceError(
        f"unsupported model URI scheme {scheme!r} in {redact(uri)}; use file://, https://, s3:// or models:/"
    )


def _local(path: Path) -> LocalModel:
    model_path = path / MODEL_FILENAME if path.is_dir() else path
    if not model_path.is_file():
        raise ModelSourceError(
            f"model file {model_path} does not exist; check the model URI (FERRYMAN_MODEL_URI when serving, "
            "--model of ferryman batch score)"
        )
    profile = model_path.parent / PROFILE_FILENAME
    return LocalModel(model_path, profile if profile.is_file() else None, None, "file")


def model_and_profile_urls(url: str) -> tuple[str, str]:
    """URLs of the model file and of profile.json beside it (a URL ending in / is a directory)."""
    parts = urlsplit(url)
    directory, _, name = parts.path.rpartition("/")
    model_path = f"{parts.path}{MODEL_FILENAME}" if not name else parts.path
    base = parts.path if not name else f"{directory}/"
    profile_path = f"{base}{PROFILE_FILENAME}"
    return (
        urlunsplit((parts.scheme, parts.netloc, model_path, parts.query, "")),
        urlunsplit((parts.scheme, parts.netloc, profile_path, "", "")),
    )


def _no_headers(url: str) -> dict[str, str]:
    return {}


def download_client(settings: Settings) -> httpx.Client:
    """The HTTP client of every model download: timeouts, redirects followed but never https -> http."""
    return httpx.Client(
        timeout=settings.download_timeout_seconds,
        follow_redirects=True,
        event_hooks={"response": [_refuse_downgrade]},
    )


def _refuse_downgrade(response: httpx.Response) -> None:
    # Called for every response, redirects included, before httpx follows them: a redirect from https
    # to http would send the request (and the model bytes) in clear text.
    if response.is_redirect and response.url.scheme == "https":
        target = response.url.join(response.headers.get("location", ""))
        if target.scheme != "https":
            raise ModelSourceError(
                f"GET {redact(str(response.url))}: redirect from https to {target.scheme} refused"
            )


def verify_sha256(path: Path, expected: str) -> None:
    """ModelSourceError unless the file's SHA-256 is `expected` (hex, any case)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    found, wanted = digest.hexdigest(), expected.lower()
    if found != wanted:
        raise ModelSourceError(
            f"model file SHA-256 is {found} but FERRYMAN_MODEL_SHA256 expects {wanted}; "
            "the source holds another model than the one configured"
        )


def _download_pair(
    url: str, settings: Settings, scheme: str, headers_for: Callable[[str], dict[str, str]]
) -> LocalModel:
    model_url, profile_url = model_and_profile_urls(url)
    target = Path(settings.download_dir) / hashlib.sha256(redact(model_url).encode()).hexdigest()[:16]
    target.mkdir(parents=True, exist_ok=True)

    with download_client(settings) as client:
        model_path = target / MODEL_FILENAME
        download(client, model_url, model_path, headers_for(model_url), settings.max_model_bytes)
        profile_path = target / PROFILE_FILENAME
        found = download(
            client,
            profile_url,
            profile_path,
            headers_for(profile_url),
            settings.max_model_bytes,
            required=False,
        )
    return LocalModel(model_path, profile_path if found else None, None, scheme)


def download(
    client: httpx.Client,
    url: str,
    path: Path,
    headers: dict[str, str],
    max_bytes: int,
    limit_name: str = "FERRYMAN_MAX_MODEL_BYTES",
    required: bool = True,
) -> bool:
    """Stream url to path; False when absent (404/403) and not required; ModelSourceError otherwise
    (including a body over max_bytes, the setting `limit_name`)."""
    partial = path.with_suffix(".partial")
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code in (403, 404) and not required:
                return False
            if response.status_code != 200:
                raise ModelSourceError(f"GET {redact(url)} answered HTTP {response.status_code}")
            _stream_to(response, partial, redact(url), max_bytes, limit_name)
            partial.replace(path)
            return True
    except httpx.HTTPError as error:
        raise ModelSourceError(f"GET {redact(url)} failed: {type(error).__name__}: {error}") from None
    finally:
        partial.unlink(missing_ok=True)


def _stream_to(response: httpx.Response, partial: Path, where: str, max_bytes: int, limit_name: str) -> None:
    # Refused before the first byte when the server announces the size; counted while streaming anyway
    # (decoded bytes: a compressed body cannot inflate past the cap).
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise ModelSourceError(f"GET {where}: {announced} bytes, over {limit_name} ({max_bytes})")
    size = 0
    with partial.open("wb") as sink:
        for chunk in response.iter_bytes(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise ModelSourceError(f"GET {where}: more than {limit_name} ({max_bytes}) bytes")
            sink.write(chunk)
