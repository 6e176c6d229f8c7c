"""Where a model comes from: an MLflow registry reference or a plain object URI."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr, WithJsonSchema

from ferryman.api.base import MAX_NAME, MAX_URI, ApiModel
from ferryman.api.redaction import redact_uri

ModelScheme = Literal["models", "s3", "https", "file"]

MODEL_URI_PATTERN = r"^(models:/[^/@]+(/[0-9]+|@[A-Za-z0-9_-]+)|s3://[^/]+/.+|https://[^/]+/.+|file:///.+)$"
MODEL_URI_FORM = (
    "models:/NAME/VERSION, models:/NAME@ALIAS, s3://BUCKET/KEY, https://HOST/PATH or file:///PATH"
)

_REGISTRY = re.compile(r"^models:/(?P<name>[^/@]+)(/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_-]+))$")
_PLAIN = re.compile(r"^(?P<scheme>s3|https)://[^/]+/.+$|^(?P<file>file):///.+$")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ParsedModelUri:
    """A model URI taken apart: the registry name and version or alias for ``models:/`` URIs."""

    scheme: ModelScheme
    uri: str
    registered_model: str | None = None
    version: str | None = None
    alias: str | None = None

    @property
    def is_registry(self) -> bool:
        return self.scheme == "models"

    @property
    def tracks_alias(self) -> bool:
        """True when the URI follows a registry alias, so the version it names can change."""
        return self.alias is not None


def parse_model_uri(uri: str) -> ParsedModelUri:
    """Split ``uri``; ValueError naming the URI and the accepted forms when it matches none."""
    registry = _REGISTRY.fullmatch(uri)
    if registry:
        return ParsedModelUri(
            scheme="models",
            uri=uri,
            registered_model=registry["name"],
            version=registry["version"],
            alias=registry["alias"],
        )
    plain = _PLAIN.fullmatch(uri)
    if plain:
        scheme: ModelScheme = "file" if plain["file"] else "s3" if plain["scheme"] == "s3" else "https"
        return ParsedModelUri(scheme=scheme, uri=uri)
    raise ValueError(f"invalid model uri {redact_uri(uri)!r}: expected {MODEL_URI_FORM}")


def _check_model_uri(uri: str) -> str:
    parse_model_uri(uri)
    return uri


ModelUri = Annotated[
    str,
    AfterValidator(_check_model_uri),
    WithJsonSchema({"type": "string", "pattern": MODEL_URI_PATTERN, "maxLength": MAX_URI}),
]


def uri_version_label(uri: str) -> str:
    """What we show as the version of ``uri``: a valid Kubernetes label value (<= 63 characters).

    Registry URIs give their version number or alias; plain URIs give the file's stem plus a short hash
    of the whole URI, so two different files with the same name never share a label.
    """
    parsed = parse_model_uri(uri)
    if parsed.version is not None:
        return parsed.version
    if parsed.alias is not None:
        return parsed.alias[:63]
    stem = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = _LABEL_UNSAFE.sub("-", stem).strip("-_.")[:40]
    digest = hashlib.sha256(uri.encode()).hexdigest()[:10]
    return f"{stem}-{digest}" if stem else digest


class ModelSource(ApiModel):
    """The model to serve and how to read it."""

    uri: ModelUri = Field(
        description=(
            "Where the model is. models:/NAME/VERSION pins a registry version (a change starts a canary); "
            "models:/NAME@ALIAS tracks a registry alias (the operator resolves it and starts a canary when "
            "it moves); s3://, https:// and file:/// point at an ONNX file directly."
        )
    )
    format: Literal["onnx"] = Field(default="onnx", description="Model format; only onnx is served today.")
    name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$",
        description=(
            "Name under which the serving endpoint exposes the model (/v2/models/NAME). "
            "Defaults to the registered model name, or the ModelDeployment's name for plain URIs."
        ),
    )

    # Set by the operator when the URI's own label would equal another track's (see version_label).
    _version_label: str | None = PrivateAttr(default=None)

    def with_version_label(self, label: str) -> ModelSource:
        """A copy that reports ``label`` as its version label."""
        copy = self.model_copy()
        copy._version_label = label
        return copy

    def parsed(self) -> ParsedModelUri:
        """The URI taken apart: scheme, registered model name, version or alias."""
        return parse_model_uri(self.uri)

    def version_label(self) -> str:
        """The version we display and label pods with: version number, alias, or stem-hash.

        The operator may have set another label (with_version_label): models:/a/7 and models:/b/7
        both read "7", and two tracks of one ModelDeployment must never share a version.
        """
        return self._version_label or uri_version_label(self.uri)
