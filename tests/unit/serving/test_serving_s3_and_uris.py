"""Model URIs: S3 path-style URLs and SigV4 signatures, MLflow URIs, redaction of secrets."""

from datetime import UTC, datetime

import pytest

from ferryman_serving.mlflow_registry import parse_models_uri
from ferryman_serving.s3 import s3_http_url, s3_signed_headers, sigv4_get_headers
from ferryman_serving.settings import Settings
from ferryman_serving.sources import ModelSourceError, model_and_profile_urls, redact

pytestmark = pytest.mark.unit


def test_sigv4_matches_the_aws_documented_example() -> None:
    """The signature equals AWS's own worked example (GET Object, S3 SigV4 documentation)."""
    headers = sigv4_get_headers(
        "https://examplebucket.s3.amazonaws.com/test.txt",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        datetime(2013, 5, 24, tzinfo=UTC),
        payload="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        extra_headers={"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_anonymous_s3_requests_carry_no_signature() -> None:
    """Without credentials (public bucket) no Authorization header is sent."""
    settings = Settings(s3_endpoint_url="http://127.0.0.1:9000")
    assert s3_signed_headers("http://127.0.0.1:9000/b/k", settings) == {}


def test_s3_uri_becomes_a_path_style_url_on_the_endpoint() -> None:
    """s3://bucket/key -> ENDPOINT/bucket/key, so MinIO and other S3-compatible stores work."""
    settings = Settings(s3_endpoint_url="http://127.0.0.1:9000/")
    assert s3_http_url("s3://models/fraud/v3/", settings) == "http://127.0.0.1:9000/models/fraud/v3/"


def test_s3_uri_without_bucket_is_rejected() -> None:
    with pytest.raises(ModelSourceError, match="no bucket"):
        s3_http_url("s3:///key", Settings())


def test_profile_url_sits_beside_the_model() -> None:
    """The profile of .../v3/model.onnx is .../v3/profile.json; a directory URL gets model.onnx."""
    assert model_and_profile_urls("https://h/m/v3/model.onnx?sig=x") == (
        "https://h/m/v3/model.onnx?sig=x",
        "https://h/m/v3/profile.json",
    )
    assert model_and_profile_urls("https://h/m/v3/") == (
        "https://h/m/v3/model.onnx",
        "https://h/m/v3/profile.json",
    )


def test_redact_drops_credentials_and_query() -> None:
    """Logged URIs never contain passwords or presigned signatures."""
    assert redact("https://user:secret@host:8443/m.onnx?X-Amz-Signature=abc") == "https://host:8443/m.onnx"


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/fraud/3", ("fraud", "3", None)),
        ("models:/fraud@production", ("fraud", None, "production")),
    ],
)
def test_mlflow_uris_parse(uri: str, parsed: tuple[str, str | None, str | None]) -> None:
    assert parse_models_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["models:/fraud", "models:/@prod", "models:/fraud@"])
def test_malformed_mlflow_uris_say_how_to_write_them(uri: str) -> None:
    with pytest.raises(ModelSourceError, match="models:/NAME/VERSION or models:/NAME@ALIAS"):
        parse_models_uri(uri)
