"""One way to show a URI outside the operator: without credentials or query strings.

Model URIs may carry secrets: https://user:token@host/model.onnx, or a presigned S3 URL whose query
string is the signature. The serving pod needs them whole (in its environment); Events, annotations,
messages and logs, which more people can read, get this redacted form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_uri(uri: str) -> str:
    """``uri`` with any userinfo and query string replaced by REDACTED and any fragment dropped."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an invalid IPv6 host: show nothing of it
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_uris_in(text: str, *uris: str) -> str:
    """``text`` with every occurrence of each of ``uris`` replaced by its redacted form."""
    for uri in uris:
        if uri:
            text = text.replace(uri, redact_uri(uri))
    return text


def redact_urls_in_text(text: str) -> str:
    """Free text (a log line, an exception) with every URL in it redacted."""
    return _URL.sub(lambda found: redact_uri(found.group(0)), text)
