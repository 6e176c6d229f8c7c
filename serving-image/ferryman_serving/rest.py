"""HTTP for the data plane: a plain ASGI app mapping Open Inference Protocol REST paths to DataPlane calls.

No web framework: the infer path is the hot path, and a framework's routing, middleware and request
objects would cost more than the model itself for small models.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any, NamedTuple

import onnxruntime as ort
import orjson

from ferryman_serving.dataplane import DataPlane, InferCall
from ferryman_serving.errors import (
    BadRequest,
    BodyTimedOut,
    ClientError,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
)
from ferryman_serving.exposition import Exposition
from ferryman_serving.metrics import PROMETHEUS_CONTENT_TYPE, ServingMetrics
from ferryman_serving.uploads import UploadDeadlines
from ferryman_serving.workers import InferenceWorkers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("ferryman_serving.rest")

JSON = b"application/json"
BINARY = b"application/octet-stream"
HEADER_LENGTH = b"inference-header-content-length"


class ClientGone(Exception):
    """The client disconnected before the request body arrived."""


@dataclass(frozen=True)
class RequestLimits:
    """What one infer request may cost the server (FERRYMAN_* settings of the same names)."""

    max_body_bytes: int
    max_inflight_requests: int
    request_timeout_seconds: float


class RestApi:
    """Routes HTTP requests to the data plane and records request metrics for infer calls."""

    def __init__(
        self,
        dataplane: DataPlane,
        metrics: ServingMetrics,
        workers: InferenceWorkers,
        limits: RequestLimits,
        openapi: bytes,
    ) -> None:
        self.dataplane = dataplane
        self.metrics = metrics
        self._exposition = Exposition(metrics)
        self.workers = workers
        self.max_body_bytes = limits.max_body_bytes
        self.max_inflight = limits.max_inflight_requests
        self.timeout = limits.request_timeout_seconds
        self._timeout_message = (
            f"the request took longer than {self.timeout:g} s (FERRYMAN_REQUEST_TIMEOUT_SECONDS) and was "
            "stopped; send smaller batches or try again"
        )
        self._body_timeout_message = (
            f"the request body did not arrive within {self.timeout:g} s of its headers "
            "(FERRYMAN_REQUEST_TIMEOUT_SECONDS); send the whole body at once"
        )
        self._uploads = UploadDeadlines()
        # Infer requests are counted by metrics.inflight (a gauge autoscaling reads); these share its slots.
        self._feedback_admitted = 0
        self.openapi = openapi
        self._routes: dict[str, tuple[str, str | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.endswith("/infer"):
            await self._infer(scope, receive, send, path)
            return
        if path.endswith("/feedback"):
            await self._feedback(scope, receive, send, path)
            return
        try:
            if path.strip("/") == "metrics":
                _require(scope["method"], "GET")
                answer = Answer(200, await self._exposition.latest(), PROMETHEUS_CONTENT_TYPE.encode())
            else:
                answer = self._read_only(scope["method"], path)
        except ClientError as error:
            answer = _error_answer(error)
        await self._send(send, answer)

    def _read_only(self, method: str, path: str) -> Answer:
        parts = path.strip("/").split("/")
        if not parts or parts[0] != "v2":
            raise NotFound(f"no such path {path!r}; the API lives under /v2 (see /v2/openapi.json)")
        # The path first: a wrong method on a path that does not exist is a 404, not "use GET". Every
        # answer here is read-only, so building it before the method check changes nothing.
        answer = self._get(parts[1:])
        if answer is None:
            raise NotFound(f"no such path {path!r}; see /v2/openapi.json for the API")
        _require(method, "GET")
        return answer

    def _get(self, route: list[str]) -> Answer | None:
        dp = self.dataplane
        parts = ["v2", *route]
        match route:
            case []:
                return Answer(200, orjson.dumps(dp.server_metadata()))
            case ["health", "live"]:
                return Answer(200, b'{"live":true}')
            case ["health", "ready"]:
                if dp.ready():
                    return Answer(200, b'{"ready":true}')
                return Answer(503, orjson.dumps({"ready": False, "reason": dp.not_ready_reason()}))
            case ["openapi.json"]:
                return Answer(200, self.openapi)
            case ["models", name] | ["models", name, "versions", _]:
                return Answer(200, orjson.dumps(dp.model_metadata(name, _version(parts))))
            case ["models", name, "ready"] | ["models", name, "versions", _, "ready"]:
                ready = dp.model_ready(name, _version(parts))
                return Answer(200 if ready else 503, orjson.dumps({"name": name, "ready": ready}))
        return None

    async def _infer(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        # Timed from arrival: time spent waiting for a worker is latency the client sees too. The slot
        # and the clock stop when the answer is ready, before it is written: a client that does not
        # read its answers must neither hold a slot nor make the model look slow.
        started = perf_counter()
        metrics = self.metrics
        metrics.inflight += 1
        status = 500  # recorded if the request is cancelled (shutdown) before it has an answer
        try:
            answer = await self._infer_answer(scope, receive, path)
            status = 499 if answer is None else answer.status
        finally:
            metrics.inflight -= 1
            metrics.record_request(status, perf_counter() - started)
        if answer is not None:
            await self._send(send, answer)

    async def _infer_answer(self, scope: Scope, receive: Receive, path: str) -> Answer | None:
        """The answer to an infer request; None if the client left before its body arrived."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            name, version = self._infer_route(path)
            _require(scope["method"], "POST")
            # Unknown model (404), not ready or saturated (503) is decided before the body is read.
            dataplane = self.dataplane
            dataplane.check_can_infer(name, version)
            self._admit()
            body, json_length = await self._read_body(scope, receive, deadline)

            work = InferCall(dataplane, name, version, body, json_length)
            payload, header_length = await self.workers.run(work, deadline, self._timeout_message)
            return Answer(200, payload, JSON if header_length is None else BINARY, header_length)
        except ClientError as error:
            return _error_answer(error)
        except ClientGone:
            return None
        except Exception:
            log.exception("infer failed", extra={"path": path})
            return INTERNAL_ERROR

    async def _feedback(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Delayed labels. A body may be FERRYMAN_MAX_BODY_BYTES of JSON, so it is parsed and scored on a
        worker thread, as infer is, under the same admission and time limits (the slot is freed before
        the answer is written, as for infer)."""
        self._feedback_admitted += 1
        try:
            answer = await self._feedback_answer(scope, receive, path)
        finally:
            self._feedback_admitted -= 1
        if answer is not None:
            await self._send(send, answer)

    async def _feedback_answer(self, scope: Scope, receive: Receive, path: str) -> Answer | None:
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            parts = path.strip("/").split("/")
            if (
                parts[:2] != ["v2", "models"]
                or len(parts) not in (4, 6)
                or (len(parts) == 6 and parts[3] != "versions")
            ):
                raise NotFound(
                    f"no such path {path!r}; feedback is POST /v2/models/NAME[/versions/V]/feedback"
                )
            _require(scope["method"], "POST")
            name, version = parts[2], _version(parts)
            dataplane = self.dataplane
            dataplane.check_feedback(name, version)
            self._admit()
            body, _ = await self._read_body(scope, receive, deadline)

            def work(_: ort.RunOptions) -> bytes:
                return dataplane.feedback_bytes(name, version, body)

            return Answer(200, await self.workers.run(work, deadline, self._timeout_message))
        except ClientError as error:
            return _error_answer(error)
        except ClientGone:
            return None
        except Exception:
            log.exception("feedback failed", extra={"path": path})
            return INTERNAL_ERROR

    def _admit(self) -> None:
        """Overloaded when infer and feedback requests already hold every admission slot."""
        if self.metrics.inflight + self._feedback_admitted > self.max_inflight:
            raise Overloaded(
                f"the server is at its limit of {self.max_inflight} concurrent infer and feedback "
                "requests (FERRYMAN_MAX_INFLIGHT_REQUESTS); retry after the Retry-After delay"
            )

    def _infer_route(self, path: str) -> tuple[str, str | None]:
        """(model name, version or None) of an infer path; remembered, because clients reuse a few."""
        route = self._routes.get(path)
        if route is None:
            parts = path.strip("/").split("/")
            if not _is_infer_path(parts):
                raise NotFound(f"no such path {path!r}; infer is POST /v2/models/NAME[/versions/V]/infer")
            route = (parts[2], _version(parts))
            if len(self._routes) < 64:  # bounded: arbitrary paths from clients must not grow memory
                self._routes[path] = route
        return route

    async def _read_body(self, scope: Scope, receive: Receive, deadline: float) -> tuple[bytes, int | None]:
        """The body and its Inference-Header-Content-Length; BodyTimedOut if it is not all in by deadline."""
        json_length: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                raise self._too_large()
            if name == HEADER_LENGTH:
                if not value.isdigit():
                    raise BadRequest("Inference-Header-Content-Length must be a non-negative integer")
                if json_length is not None:  # a proxy may read the first, this server the last
                    raise BadRequest("Inference-Header-Content-Length is sent twice; send it once")
                json_length = int(value)
        try:
            return await self._uploads.read(self._receive_body(receive), deadline), json_length
        except TimeoutError:
            raise BodyTimedOut(self._body_timeout_message) from None

    async def _receive_body(self, receive: Receive) -> bytes:
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            if message["type"] == "http.disconnect":
                raise ClientGone
            if len(body) > self.max_body_bytes:
                raise self._too_large()
            return body
        chunks, size = [body], len(body)
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body exceeds {self.max_body_bytes} bytes (FERRYMAN_MAX_BODY_BYTES); "
            "send smaller batches or raise the limit"
        )

    async def _send(self, send: Send, answer: Answer) -> None:
        status, body, content_type, header_length, extra = answer
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if header_length is not None:
            headers.append((HEADER_LENGTH, str(header_length).encode()))
        if self.dataplane.repository.draining:
            # Draining for shutdown: ask clients to reconnect (elsewhere) instead of reusing this connection.
            headers.append((b"connection", b"close"))
        headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Answer(NamedTuple):
    """A response, decided before any of it is written."""

    status: int
    body: bytes
    content_type: bytes = JSON
    header_length: int | None = None  # binary extension: length of the JSON part of the body
    headers: tuple[tuple[bytes, bytes], ...] = ()


INTERNAL_ERROR = Answer(500, b'{"error":"internal error; see the server log"}')


def _error_answer(error: ClientError) -> Answer:
    body = orjson.dumps({"error": error.message})
    if isinstance(error, MethodNotAllowed):
        return Answer(error.status, body, headers=((b"allow", error.allowed.encode()),))
    if isinstance(error, Overloaded):
        return Answer(
            error.status, body, headers=((b"retry-after", str(error.retry_after_seconds).encode()),)
        )
    if isinstance(error, BodyTimedOut):
        # The rest of the body may still come: this connection cannot carry another request.
        return Answer(error.status, body, headers=((b"connection", b"close"),))
    return Answer(error.status, body)


def _version(parts: list[str]) -> str | None:
    return parts[4] if len(parts) > 4 and parts[3] == "versions" else None


def _require(method: str, allowed: str) -> None:
    if method != allowed:
        raise MethodNotAllowed(method, allowed)


def _is_infer_path(parts: list[str]) -> bool:
    if parts[:2] != ["v2", "models"]:
        return False
    return len(parts) == 4 or (len(parts) == 6 and parts[3] == "versions")
