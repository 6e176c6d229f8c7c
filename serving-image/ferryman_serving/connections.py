"""Connections of clients that stall or flood: uvicorn times idle connections and nothing else.

uvicorn (0.54, httptools) closes a connection that stays idle after a response. A client that sends
part of its request headers, or stops reading the answer the server is writing, keeps its connection,
its file descriptor and the answer's buffer for as long as it likes; and headers have no size limit, so
a client streaming one endless header makes the parser grow it by concatenation on the event loop
(measured: 74 MB in 8 s from one client held a probe 0.93 s). `StallGuardProtocol` caps the headers'
size and notes since when a connection has waited on its client; `close_stalled` (run by the server
once a second) closes those that waited too long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger("ferryman_serving.connections")


def _error_response(status: str, message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class StallGuardProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on the size of request headers, noting since when the
    connection has waited on its client.

    Two waits are noted. Headers: from a request's first byte until its headers are complete. Answer:
    from the moment the transport's write buffer fills (the client is not reading) until it drains.
    Bytes that start no request (blank lines) leave the connection idle, and an idle one, before its
    first request too, is closed after FERRYMAN_KEEP_ALIVE_SECONDS: proxies open connections ahead of
    requests and keep them in their pools, so an unused connection must not be timed as headers.
    Use `guarded_protocol(max_header_bytes)` to get the class with a limit.
    """

    max_header_bytes: ClassVar[int]  # set by guarded_protocol
    headers_since: float | None = None  # loop time of the first byte of the request being read
    header_bytes = 0  # bytes of the request being read that arrived after the chunk it began in
    requests_begun = 0
    answer_stalled_since: float | None = None
    # Requests of this connection pipelined while an earlier one was unanswered (empty without pipelining).
    unanswered: list[RequestResponseCycle] = []  # noqa: RUF012  # replaced, never mutated in place

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle()

    # The overrides below run for every request: they call the base class directly, which is cheaper
    # than super(), and test the common case first.
    def data_received(self, data: bytes) -> None:
        since, begun = self.headers_since, self.requests_begun
        HttpToolsProtocol.data_received(self, data)
        if self.headers_since is not None:
            if since is not None and self.requests_begun == begun:
                # The whole chunk belongs to the headers of one request. The read they began in is
                # not counted (it may end another request's body), so the count never exceeds their
                # true size and a request within the limit is never refused; headers may pass the
                # limit by at most one read (uvloop reads up to 250 KB at a time).
                self.header_bytes += len(data)
                if self.header_bytes > self.max_header_bytes:
                    self._refuse_headers()
        elif self.timeout_keep_alive_task is None and not self.answering():
            self._idle()  # blank lines between requests: uvicorn stopped the idle timer, start it again

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self.headers_since = self.loop.time()
        self.header_bytes = 0
        self.requests_begun += 1

    def on_headers_complete(self) -> None:
        self.headers_since = None
        earlier = self.cycle
        HttpToolsProtocol.on_headers_complete(self)
        if earlier is not None and not earlier.response_complete:  # pipelined behind an unanswered one
            kept = [c for c in self.unanswered if not c.response_complete and c is not earlier]
            self.unanswered = [*kept, earlier]  # the newest, self.cycle, uvicorn marks itself

    def connection_lost(self, exc: Exception | None) -> None:
        # uvicorn marks only the newest request as disconnected; with pipelining, the one being answered
        # and those queued behind it would go on to write to the closed transport, each write an ERROR
        # with a traceback. Marked too, they stop writing, and those not yet read count as 499.
        for cycle in self.unanswered:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()  # a request waiting for the rest of its body reads the disconnect
        HttpToolsProtocol.connection_lost(self, exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.answer_stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.answer_stalled_since = None

    def headers_late(self, now: float, limit_seconds: float) -> bool:
        """Headers pending too long; not judged while an earlier request is answered (pipelining)."""
        since = self.headers_since
        return since is not None and now - since > limit_seconds and not self.answering()

    def answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def answer_late(self, now: float, limit_seconds: float) -> bool:
        since = self.answer_stalled_since
        return since is not None and now - since > limit_seconds

    def end_with(self, response: bytes) -> None:
        """Answer and close; abort instead while an answer is still being written (after a pipelined
        request), since bytes written now would land inside it."""
        if self.answering():
            self.transport.abort()
        else:
            self.transport.write(response)
            self.transport.close()

    def _refuse_headers(self) -> None:
        self.headers_since = None
        self.end_with(
            _error_response(
                "431 Request Header Fields Too Large",
                f"the request headers exceed {self.max_header_bytes} bytes (FERRYMAN_MAX_HEADER_BYTES); "
                "send large data in the body",
            )
        )

    def _idle(self) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


def guarded_protocol(max_header_bytes: int) -> type[StallGuardProtocol]:
    """StallGuardProtocol refusing headers larger than max_header_bytes (uvicorn takes a class)."""
    attributes: dict[str, Any] = {"max_header_bytes": max_header_bytes}
    return type("StallGuardProtocol", (StallGuardProtocol,), attributes)


def close_stalled(connections: Iterable[object], now: float, limit_seconds: float) -> tuple[int, int]:
    """Close the connections that waited on their client longer than limit_seconds.

    Returns (closed while waiting for headers, closed while waiting for the client to read its answer).
    Headers: a 408, then the connection closes. Answer: the connection is aborted, which drops the
    unsent rest of the answer (a plain close would wait for the client to read it first).
    """
    late_headers = late_answers = 0
    for connection in list(connections):
        if not isinstance(connection, StallGuardProtocol) or connection.transport.is_closing():
            continue
        if connection.answer_late(now, limit_seconds):
            connection.transport.abort()
            late_answers += 1
        elif connection.headers_late(now, limit_seconds):
            connection.headers_since = None
            connection.end_with(
                _error_response(
                    "408 Request Timeout",
                    f"the request headers did not all arrive within {limit_seconds:g} s of its first "
                    "byte (FERRYMAN_STALLED_CLIENT_SECONDS); send each request whole",
                )
            )
            late_headers += 1
    if late_headers or late_answers:
        log.info(
            "closed connections of stalled clients",
            extra={"headers_late": late_headers, "answers_late": late_answers, "seconds": limit_seconds},
        )
    return late_headers, late_answers
