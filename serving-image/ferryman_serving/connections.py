"""Connections of clients that stalled: uvicorn times idle connections, not a client that stops halfway.

uvicorn (0.54, httptools) closes a connection that stays idle after a response, and nothing else. A
client that sends part of its request headers, or that stops reading the answer the server is writing,
keeps its connection, its file descriptor and the answer's buffer for as long as it likes: a few
thousand of them exhaust memory or file descriptors. `StallGuardProtocol` notes when each connection
started waiting on its client, and `close_stalled` (run by the server once a second) closes those that
waited too long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger("ferryman_serving.connections")


def header_timeout_response(limit_seconds: float) -> bytes:
    body = orjson.dumps(
        {
            "error": f"the request headers did not all arrive within {limit_seconds:g} s "
            "(FERRYMAN_STALLED_CLIENT_SECONDS); send each request whole"
        }
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class StallGuardProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, noting since when the connection has waited on its client.

    Two waits are noted. Headers: from the first byte after the previous response (or of the
    connection) until a request's headers are complete. Answer: from the moment the transport's write
    buffer fills (the client is not reading) until it drains. A new connection that has sent nothing
    yet is idle, as between requests, and closed after FERRYMAN_KEEP_ALIVE_SECONDS: proxies open
    connections ahead of requests and keep them in their pools, so it must not be timed as headers.
    """

    # (the response cycle the request follows, loop time of its first byte): the headers are still
    # pending while self.cycle is that cycle, since completed headers start a new cycle.
    headers_pending: tuple[RequestResponseCycle | None, float] | None = None
    answer_stalled_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            pending = self.headers_pending
            if pending is None or pending[0] is not cycle:
                self.headers_pending = (cycle, self.loop.time())
        super().data_received(data)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.answer_stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.answer_stalled_since = None

    def headers_late(self, now: float, limit_seconds: float) -> bool:
        pending = self.headers_pending
        return pending is not None and pending[0] is self.cycle and now - pending[1] > limit_seconds

    def answer_late(self, now: float, limit_seconds: float) -> bool:
        since = self.answer_stalled_since
        return since is not None and now - since > limit_seconds


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
            connection.transport.write(header_timeout_response(limit_seconds))
            connection.transport.close()
            late_headers += 1
    if late_headers or late_answers:
        log.info(
            "closed connections of stalled clients",
            extra={"headers_late": late_headers, "answers_late": late_answers, "seconds": limit_seconds},
        )
    return late_headers, late_answers
