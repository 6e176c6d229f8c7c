"""Reads a batch run's manifest where the operator can see the output (a file:// URI or path on a volume
the operator mounts too, or the same host on the local cluster). Elsewhere rowsScored stays unset."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

MANIFEST_FILENAME = "manifest.json"  # ferryman_serving.batch.manifest writes it (the operator image lacks it)


def rows_scored(output_uri: str, run_id: str) -> int | None:
    """Rows in the manifest of run_id under output_uri; None when unreadable or of another run."""
    try:
        parts = urlsplit(output_uri)
    except ValueError:  # s3://[bucket/out: not a URL this operator can read (the run reports its own error)
        return None
    if parts.scheme not in ("", "file"):
        return None
    path = Path(unquote(parts.path) if parts.scheme else output_uri) / MANIFEST_FILENAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("run_id") != run_id:
        return None
    rows = manifest.get("rows")
    return rows if isinstance(rows, int) else None
