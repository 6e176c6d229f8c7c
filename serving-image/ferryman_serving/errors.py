"""Errors the data plane raises for client faults; the transport maps `status` to its own codes."""

from __future__ import annotations


class ClientError(Exception):
    """A request the server cannot honour because of what the client sent. The message says how to fix it."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ClientError):
    """Malformed or inconsistent request (wrong shape, datatype, JSON, unknown input)."""


class NotFound(ClientError):
    """Unknown model, version or path."""

    status = 404


class PayloadTooLarge(ClientError):
    """Body larger than FERRYMAN_MAX_BODY_BYTES."""

    status = 413


class MethodNotAllowed(ClientError):
    """Known path, wrong HTTP method; `allowed` is the method that path takes."""

    status = 405

    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(f"method {method} is not allowed here; use {allowed}")
        self.allowed = allowed


class Unavailable(ClientError):
    """The model is not (or no longer) ready: loading, failed to load, or draining for shutdown."""

    status = 503


class Overloaded(ClientError):
    """Every admission slot is taken (FERRYMAN_MAX_INFLIGHT_REQUESTS): try again shortly, or elsewhere."""

    status = 503
    retry_after_seconds = 1


class BodyTimedOut(ClientError):
    """The request body was not all in by FERRYMAN_REQUEST_TIMEOUT_SECONDS after its headers."""

    status = 408


class TimedOut(ClientError):
    """The request outlived FERRYMAN_REQUEST_TIMEOUT_SECONDS; its inference was stopped."""

    status = 504
