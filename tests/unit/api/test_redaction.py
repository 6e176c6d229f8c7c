"""URIs leave the operator (Events, annotations, messages, logs) without credentials or signatures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ferryman.api import ModelSource, redact_uri, redact_uris_in
from ferryman.handlers.spec_errors import describe_validation_error

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "https://alice:s3cret@models.example/fraud/model.onnx",
            "https://REDACTED@models.example/fraud/model.onnx",
        ),
        (
            "https://bucket.s3.example/model.onnx?X-Amz-Signature=abc&X-Amz-Credential=k#part",
            "https://bucket.s3.example/model.onnx?REDACTED",
        ),
        ("s3://key:secret@bucket/fraud/model.onnx", "s3://REDACTED@bucket/fraud/model.onnx"),
        ("http://token@127.0.0.1:5000", "http://REDACTED@127.0.0.1:5000"),
        ("models:/fraud/7", "models:/fraud/7"),
        ("models:/fraud@production", "models:/fraud@production"),
        ("file:///models/fraud.onnx", "file:///models/fraud.onnx"),
    ],
)
def test_userinfo_and_query_are_redacted_and_the_rest_is_kept(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_every_occurrence_in_a_message_is_redacted() -> None:
    uri = "https://alice:s3cret@models.example/m.onnx"
    message = f"refused {uri}; was {uri}"
    assert "s3cret" not in redact_uris_in(message, uri, "")


def test_an_invalid_uri_is_quoted_redacted_in_the_validation_error() -> None:
    """The message that reaches status and an Event names the value without the password."""
    with pytest.raises(ValidationError) as caught:
        ModelSource(uri="ftp://alice:s3cret@host/model.onnx")
    message = describe_validation_error(caught.value)
    assert "s3cret" not in message
    assert "REDACTED@host" in message
