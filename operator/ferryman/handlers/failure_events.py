"""A handler that fails with an unexpected exception also gets a Warning Event on its object.

Kopf posts none for timers and event handlers (their logger is local), and with posting.loggers off
none for the others either. Expected failures are not posted: a TemporaryError is a retry by design
(a conflict, an object not there yet) and is logged only; a PermanentError comes with the Degraded
status and InvalidSpec Warning the handler writes. An exception, though, means the handler cannot do
its work and retries blindly: the user must see that. A failing timer logs on every retry, so the same
message is posted at most once a minute per object, and the API server is not flooded.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, cast

import kopf

from ferryman.api import redact_urls_in_text

FAILURE_REASON = "HandlerFailed"
REPEAT_AFTER_SECONDS = 60.0
MAX_MESSAGE_LENGTH = 1000
MAX_REMEMBERED = 10_000
KOPF_OBJECT_LOGGER = "kopf.objects"


def failure_message(record: logging.LogRecord) -> str:
    """Kopf's line (which handler, whether it retries) and the error itself, URLs redacted."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        message = f"{message} {type(error).__name__}: {error}"
    return redact_urls_in_text(message)[:MAX_MESSAGE_LENGTH]


class FailureEventPoster(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._posted_at: dict[tuple[str, str], float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        ref: Any = getattr(record, "k8s_ref", None)
        unexpected = record.exc_info is not None and record.exc_info[1] is not None
        if not unexpected or not isinstance(ref, dict) or not ref.get("name"):
            return
        message = failure_message(record)
        key = (str(ref.get("uid") or ref.get("name")), message)
        now = time.monotonic()
        if now - self._posted_at.get(key, -math.inf) < REPEAT_AFTER_SECONDS:
            return
        if len(self._posted_at) >= MAX_REMEMBERED:
            self._posted_at.clear()
        self._posted_at[key] = now
        metadata = {field: ref.get(field) for field in ("name", "namespace", "uid")}
        body: dict[str, Any] = {
            "apiVersion": ref.get("apiVersion"),
            "kind": ref.get("kind"),
            "metadata": metadata,
        }
        try:
            kopf.event(
                kopf.Body(cast(kopf.RawBody, body)), type="Warning", reason=FAILURE_REASON, message=message
            )
        except LookupError:  # logged outside a running operator: nowhere to post
            return


def install_failure_events() -> None:
    """Attach one poster to Kopf's object logger (again after a restart in the same process)."""
    object_logger = logging.getLogger(KOPF_OBJECT_LOGGER)
    object_logger.handlers[:] = [h for h in object_logger.handlers if not isinstance(h, FailureEventPoster)]
    object_logger.addHandler(FailureEventPoster())
