"""Model URIs are taken apart correctly, and what we show as the version is a valid label value."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ferryman.api import ModelSource, ParsedModelUri, parse_model_uri

pytestmark = pytest.mark.unit

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/fraud/7", ParsedModelUri("models", "models:/fraud/7", "fraud", "7", None)),
        (
            "models:/fraud@production",
            ParsedModelUri("models", "models:/fraud@production", "fraud", None, "production"),
        ),
        ("s3://models/fraud/v3/model.onnx", ParsedModelUri("s3", "s3://models/fraud/v3/model.onnx")),
        ("https://example.test/m.onnx", ParsedModelUri("https", "https://example.test/m.onnx")),
        ("file:///srv/models/m.onnx", ParsedModelUri("file", "file:///srv/models/m.onnx")),
    ],
)
def test_parses_every_supported_scheme(uri: str, parsed: ParsedModelUri) -> None:
    """Registry URIs yield name plus version or alias; plain URIs yield their scheme."""
    assert ModelSource(uri=uri).parsed() == parsed


def test_alias_uri_tracks_alias_and_pinned_uri_does_not() -> None:
    """Only an @alias URI can name a different version tomorrow."""
    assert parse_model_uri("models:/fraud@production").tracks_alias
    assert not parse_model_uri("models:/fraud/7").tracks_alias


@pytest.mark.parametrize(
    "uri",
    [
        "models:/fraud/Production",
        "models:/fraud",
        "models:/fraud/7/x",
        "gs://b/m.onnx",
        "file://m.onnx",
        "s3://bucket",
    ],
)
def test_rejects_unsupported_uris_listing_accepted_forms(uri: str) -> None:
    """A stage URI, a missing version, or an unknown scheme is refused at spec.model.uri with the forms."""
    with pytest.raises(ValidationError) as caught:
        ModelSource.model_validate({"uri": uri})
    (error,) = caught.value.errors()
    assert error["loc"] == ("uri",)
    assert "models:/NAME/VERSION, models:/NAME@ALIAS" in error["msg"]


@pytest.mark.parametrize(
    ("uri", "label"),
    [("models:/fraud/7", "7"), ("models:/fraud@production", "production")],
)
def test_version_label_of_registry_uris(uri: str, label: str) -> None:
    """The registry's own version number or alias is what we show."""
    assert ModelSource(uri=uri).version_label() == label


def test_version_label_of_plain_uris_is_stable_and_distinct() -> None:
    """Plain URIs show the file stem and a hash: same URI same label, two files of one name differ."""
    first = ModelSource(uri="s3://models/fraud/v3/model.onnx").version_label()
    assert first == ModelSource(uri="s3://models/fraud/v3/model.onnx").version_label()
    assert first.startswith("model-")
    assert first != ModelSource(uri="s3://models/fraud/v4/model.onnx").version_label()


@given(
    st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\n"), min_size=1, max_size=300
    )
)
def test_version_label_is_always_a_valid_label_value(path: str) -> None:
    """Whatever the file is called, the label fits Kubernetes label-value rules (<= 63, safe chars)."""
    label = ModelSource(uri=f"s3://bucket/{path}").version_label()
    assert len(label) <= 63
    assert LABEL_VALUE.fullmatch(label), label
