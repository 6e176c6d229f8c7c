"""s3:// URIs over plain HTTP against an S3-compatible endpoint (path-style), without an AWS SDK.

Anonymous requests for public buckets; with FERRYMAN_S3_ACCESS_KEY_ID and FERRYMAN_S3_SECRET_ACCESS_KEY
requests carry an AWS Signature Version 4 (GET, unsigned payload), which AWS S3 and MinIO accept.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from ferryman_serving.settings import Settings
from ferryman_serving.sources import ModelSourceError


def s3_http_url(uri: str, settings: Settings) -> str:
    """http(s) URL of s3://bucket/key on the configured endpoint, path-style."""
    parts = urlsplit(uri)
    if not parts.netloc:
        raise ModelSourceError(f"s3 URI {uri!r} has no bucket; write s3://bucket/path/model.onnx")
    endpoint = settings.s3_endpoint_url or f"https://s3.{settings.s3_region}.amazonaws.com"
    return f"{endpoint.rstrip('/')}/{parts.netloc}{quote(parts.path)}"


def s3_signed_headers(url: str, settings: Settings, now: datetime | None = None) -> dict[str, str]:
    """Headers for a GET of url: none when anonymous, a SigV4 Authorization otherwise."""
    secret = settings.s3_secret_access_key
    if not settings.s3_access_key_id or secret is None:
        return {}
    return sigv4_get_headers(
        url,
        settings.s3_access_key_id,
        secret.get_secret_value(),
        settings.s3_region,
        now or datetime.now(UTC),
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sigv4_get_headers(
    url: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    payload: str = "UNSIGNED-PAYLOAD",
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """AWS Signature Version 4 headers for an S3 GET (payload = its SHA-256, or UNSIGNED-PAYLOAD)."""
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    headers.update({name.lower(): value for name, value in (extra_headers or {}).items()})
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    query = "&".join(sorted(p for p in parts.query.split("&") if p))
    canonical = "\n".join(["GET", parts.path or "/", query, canonical_headers, signed, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        **{name: value for name, value in headers.items() if name != "host"},
        "authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}",
    }
