"""An answer leaves in one write: uvicorn's protocol (the one the server runs) on a transport that records
what reaches it. Heads are held only until their body; everything else passes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from ferryman_serving.connections import guarded_protocol

pytestmark = pytest.mark.unit

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"5")]


class RecordingTransport(asyncio.Transport):
    """What the kernel would be asked to do: each write (writelines counts as one) and the close."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes | str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(b"".join(chunks))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def serve(
    app: App,
    *requests: bytes,
    transport: RecordingTransport | None = None,
    between: Callable[[RecordingTransport], bytes] | None = None,
) -> list[Any]:
    """Feed requests to the server's protocol, letting the app run after each, then disconnect; returns
    what reached the transport. `between(transport)` gives bytes to send after each request's app has
    run (e.g. a body after 100 Continue)."""
    transport = transport or RecordingTransport()

    async def main() -> list[Any]:
        config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None)
        protocol = guarded_protocol(65536)(config=config, server_state=ServerState(), app_state={})
        protocol.connection_made(transport)
        for request in requests:
            protocol.data_received(request)
            await settle()
            if between is not None:
                protocol.data_received(between(transport))
                await settle()
        protocol.connection_lost(None)
        return transport.calls

    return asyncio.run(main())


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def answer(body: bytes = b"hello", headers: list[tuple[bytes, bytes]] = HEADERS) -> App:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_an_answer_leaves_in_one_write() -> None:
    calls = serve(answer(), GET, GET)
    assert len(calls) == 3, calls  # one write per answer, then the close when the client goes
    for call in calls[:2]:
        assert isinstance(call, bytes)
        assert call.startswith(b"HTTP/1.1 200 OK\r\n")
        assert call.endswith(b"\r\n\r\nhello")
    assert calls[2] == "close"


def test_the_head_of_an_answer_to_head_leaves_when_the_answer_completes() -> None:
    calls = serve(answer(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", GET)
    assert calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert calls[0].endswith(b"\r\n\r\n"), "no body for HEAD"
    assert calls[1].endswith(b"\r\n\r\nhello"), "the next answer is whole too"


def test_an_answer_with_connection_close_is_written_before_the_close() -> None:
    calls = serve(answer(), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert len(calls) >= 2, calls
    assert isinstance(calls[0], bytes) and calls[0].endswith(b"hello")
    assert calls[1] == "close"


def test_100_continue_is_not_held_back() -> None:
    # The client sends the body only once it has the 100 Continue: held, both would wait for ever.
    async def echo(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": body})

    def body_once_continued(transport: RecordingTransport) -> bytes:
        assert transport.calls == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        return b"hello"

    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    calls = serve(echo, request, between=body_once_continued)
    assert calls[1].startswith(b"HTTP/1.1 200 OK\r\n") and calls[1].endswith(b"hello")


def test_a_streamed_body_leaves_chunk_by_chunk_after_the_head() -> None:
    transport = RecordingTransport()
    chunks_seen: list[int] = []  # writes that had reached the transport after each chunk was sent

    async def stream(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
        for chunk in (b"ab", b"cd", b"ef"):
            await send({"type": "http.response.body", "body": chunk, "more_body": chunk != b"ef"})
            chunks_seen.append(len(transport.calls))
            await asyncio.sleep(0)

    calls = serve(stream, GET, transport=transport)
    assert chunks_seen == [1, 2, 3], "each chunk is written as it is sent, the first with the head"
    assert calls[0].endswith(b"\r\n\r\nab") and calls[1:3] == [b"cd", b"ef"]


def test_a_head_whose_body_never_comes_leaves_before_the_close() -> None:
    async def fails_after_the_head(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        raise RuntimeError("the app failed mid-answer")

    calls = serve(fails_after_the_head, GET)
    assert calls[0].startswith(b"HTTP/1.1 200 OK\r\n") and calls[0].endswith(b"\r\n\r\n")
    assert calls[1] == "close"
