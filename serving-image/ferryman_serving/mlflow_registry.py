"""MLflow `models:/name/version` and `models:/name@alias` through the registry's REST API (no mlflow package).

Resolution: registry version -> its source (runs:/, models:/m-..., or a storage URI) -> artifact
location -> files. Artifacts are downloaded through the tracking server's artifact proxy
(`mlflow-artifacts:/`), or straight from s3:// / https:// / file locations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from ferryman_serving.profile import PROFILE_FILENAME
from ferryman_serving.settings import Settings
from ferryman_serving.sources import (
    MODEL_FILENAME,
    LocalModel,
    ModelSourceError,
    download,
    download_client,
    redact,
)


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version, alias) of models:/name/version or models:/name@alias."""
    body = uri.removeprefix("models:").lstrip("/")
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias and "/" not in alias:
            return name, None, alias
    else:
        name, _, version = body.rpartition("/")
        if name and version:
            return name, version, None
    raise ModelSourceError(f"cannot parse {uri!r}; write models:/NAME/VERSION or models:/NAME@ALIAS")


class _Registry:
    """Just the MLflow REST calls the loader needs."""

    def __init__(self, settings: Settings, client: httpx.Client) -> None:
        if not settings.mlflow_tracking_uri:
            raise ModelSourceError("models:/ URIs need FERRYMAN_MLFLOW_TRACKING_URI (the MLflow server URL)")
        self.base = settings.mlflow_tracking_uri.rstrip("/")
        self.client = client
        token = settings.mlflow_tracking_token
        self.headers = {"authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        url = f"{self.base}{endpoint}"
        try:
            response = self.client.get(url, params=params, headers=self.headers)
        except httpx.HTTPError as error:
            raise ModelSourceError(f"MLflow at {redact(self.base)} unreachable: {error}") from None
        if response.status_code != 200:
            raise ModelSourceError(
                f"MLflow GET {endpoint} {params} answered {response.status_code}: {response.text[:300]}"
            )
        result: dict[str, Any] = response.json()
        return result

    def model_version(self, name: str, version: str | None, alias: str | None) -> dict[str, Any]:
        if alias is not None:
            found = self.get("/api/2.0/mlflow/registered-models/alias", name=name, alias=alias)
        else:
            found = self.get("/api/2.0/mlflow/model-versions/get", name=name, version=version or "")
        model_version: dict[str, Any] = found["model_version"]
        return model_version

    def artifact_location(self, source: str) -> str:
        if source.startswith("runs:/"):
            run_id, _, path = source.removeprefix("runs:/").partition("/")
            run = self.get("/api/2.0/mlflow/runs/get", run_id=run_id)
            return f"{run['run']['info']['artifact_uri'].rstrip('/')}/{path}".rstrip("/")
        if source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/")
            logged = self.get(f"/api/2.0/mlflow/logged-models/{model_id}")
            return str(logged["model"]["info"]["artifact_uri"]).rstrip("/")
        return source.rstrip("/")


def fetch_registered_model(uri: str, settings: Settings) -> LocalModel:
    """Resolve and download a registered model version (model file and optional profile.json)."""
    name, version, alias = parse_models_uri(uri)
    with download_client(settings) as client:
        registry = _Registry(settings, client)
        model_version = registry.model_version(name, version, alias)
        location = registry.artifact_location(str(model_version["source"]))
        resolved = str(model_version["version"])
        target = Path(settings.download_dir) / f"mlflow-{quote(name, safe='')}-{resolved}"
        target.mkdir(parents=True, exist_ok=True)
        files = _fetch_location(registry, location, target, settings)
    return LocalModel(files.model_path, files.profile_path, resolved, "models")


def _fetch_location(registry: _Registry, location: str, target: Path, settings: Settings) -> LocalModel:
    parts = urlsplit(location)
    if parts.scheme == "mlflow-artifacts":
        return _fetch_proxied(registry, unquote(parts.path).strip("/"), target, settings.max_model_bytes)
    if parts.scheme in ("s3", "http", "https", "file", ""):
        from ferryman_serving.sources import fetch_model

        return fetch_model(settings.model_copy(update={"model_uri": f"{location}/"}))
    raise ModelSourceError(f"MLflow artifact location {redact(location)} uses an unsupported store")


def _fetch_proxied(registry: _Registry, path: str, target: Path, max_bytes: int) -> LocalModel:
    listing = registry.get("/api/2.0/mlflow-artifacts/artifacts", path=path)
    names = [Path(f["path"]).name for f in listing.get("files", []) if not f.get("is_dir")]
    onnx = [n for n in names if n.endswith(".onnx")]
    if not onnx:
        raise ModelSourceError(f"no .onnx file among the model's artifacts {names}; log the model as ONNX")
    model_name = MODEL_FILENAME if MODEL_FILENAME in onnx else onnx[0]
    base = f"{registry.base}/api/2.0/mlflow-artifacts/artifacts/{quote(path)}"
    model_path = target / MODEL_FILENAME
    download(registry.client, f"{base}/{model_name}", model_path, registry.headers, max_bytes)
    profile_path = target / PROFILE_FILENAME
    has_profile = PROFILE_FILENAME in names and download(
        registry.client,
        f"{base}/{PROFILE_FILENAME}",
        profile_path,
        registry.headers,
        max_bytes,
        required=False,
    )
    return LocalModel(model_path, profile_path if has_profile else None, None, "models")
