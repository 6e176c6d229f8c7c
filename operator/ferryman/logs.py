"""The operator's log: one JSON object a line on stderr, for people and for log collectors.

Every line has time, level, logger and message; lines about one object name it (``object``: kind,
namespace, name), decisions add ``decision``, failures ``error`` (and ``traceback`` at ERROR). URLs are
redacted in every field, and the HTTP client libraries, whose DEBUG lines show request headers
(bearer tokens), never log below WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from ferryman.api import redact_urls_in_text

# Attributes every LogRecord has; anything else on a record was passed as `extra` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Kopf's bookkeeping on object loggers: the reference is logged as `object`, the rest not at all.
_KOPF_INTERNAL = {"k8s_ref", "k8s_skip", "settings"}
_QUIET_LIBRARIES = ("urllib3", "kubernetes", "aiohttp", "asyncio", "httpx", "httpcore")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_urls_in_text(record.getMessage()),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            line["object"] = {key: ref.get(key) for key in ("kind", "namespace", "name") if ref.get(key)}
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _KOPF_INTERNAL:
                line[key] = _redacted(value)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = redact_urls_in_text(f"{type(error).__name__}: {error}")
            if record.levelno >= logging.ERROR:
                text = "".join(traceback.format_exception(error))
                line["traceback"] = redact_urls_in_text(text)
        return json.dumps(line, default=str)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_urls_in_text(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


class HandlerSuccessAtDebug(logging.Filter):
    """Keeps Kopf's "Handler 'NAME' succeeded." lines out of a log above DEBUG.

    Kopf writes one at INFO after every handler run, event handlers included: about twenty lines for each
    new ModelDeployment, most of them for watch events that changed nothing. The handlers log their
    decisions themselves, and Kopf's "Creation/Update is processed" line still sums up each change."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith("kopf."):
            return True
        message = record.msg if isinstance(record.msg, str) else ""
        return not (message.startswith("Handler '") and message.endswith("' succeeded."))


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr as JSON lines, at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    if logging.getLevelName(level) > logging.DEBUG:
        handler.addFilter(HandlerSuccessAtDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
