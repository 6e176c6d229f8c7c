"""Clients that stall halfway or flood: headers that stop arriving or never end, answers nobody reads,
connections never used.

uvicorn times only idle connections between requests and does not limit the size of headers. Each
client below used to keep its connection (and, for unread answers, an admission slot and the answer's
memory) for as long as it liked, and an endless header grew on the event loop, stalling probes.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.serving.harness_models import make_gram_model

from ferryman_testing.polling import wait_for
from ferryman_testing.raw_http import connect, read_until_closed
from ferryman_testing.servers import ServingProcess

pytestmark = pytest.mark.serving

STALL_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 3.0
# The server checks once a second, so a stalled client is cut off between the limit and a second later.
CUT_OFF_BY = STALL_SECONDS + 2.0
MAX_HEADER_BYTES = 65536  # the default
LARGE_N = 1500  # x·xᵀ of 1,500 rows: a 9 MB answer, far more than the socket buffers between the two ends


@pytest.fixture(scope="module")
def stall_server(model_root: Path, logs_dir: Path) -> Iterator[ServingProcess]:
    path = make_gram_model(model_root / "gram-stall" / "model.onnx")
    with ServingProcess(
        logs_dir,
        model_uri=f"file://{path}",
        model_name="gram",
        drain_seconds="0",
        max_inflight_requests="2",
        stalled_client_seconds=str(STALL_SECONDS),
        keep_alive_seconds=str(KEEP_ALIVE_SECONDS),
    ) as server:
        yield server.wait_ready()


def gram_body(rows: int) -> bytes:
    """x·xᵀ of a column of ones, answered as binary: 4 · rows² bytes."""
    return orjson.dumps(
        {
            "inputs": [{"name": "x", "shape": [rows, 1], "datatype": "FP32", "data": [1.0] * rows}],
            "outputs": [{"name": "gram", "parameters": {"binary_data": True}}],
        }
    )


def gram_request(rows: int) -> bytes:
    body = gram_body(rows)
    head = (
        "POST /v2/models/gram/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_unless_reset(connection: socket.socket) -> bytes | None:
    """What the server sent before closing; None if bytes still being sent crossed its close, which
    makes the kernel reset the connection and discard what the server had sent."""
    try:
        return read_until_closed(connection)
    except ConnectionResetError:
        return None


def test_headers_that_stop_arriving_get_a_408_at_the_limit(stall_server: ServingProcess) -> None:
    connection = connect(stall_server.port)
    started = time.monotonic()
    connection.sendall(b"POST /v2/models/gram/infer HTTP/1.1\r\nHost: x\r\n")
    answer = read_until_closed(connection)
    closed_after = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"FERRYMAN_STALLED_CLIENT_SECONDS" in answer
    assert STALL_SECONDS <= closed_after < CUT_OFF_BY, closed_after


def test_headers_dripped_a_line_at_a_time_are_cut_off_at_the_limit(stall_server: ServingProcess) -> None:
    """Slowloris: each line keeps the connection busy, but the limit counts from the request's first byte.
    The drip would take 6 s; the server ends it at the limit."""
    connection = connect(stall_server.port)
    started = time.monotonic()
    connection.sendall(b"GET /v2/health/live HTTP/1.1\r\n")
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the server may close mid-send
        for line in range(20):
            if select.select([connection], [], [], 0.3)[0]:
                break  # the server answered or closed: stop sending into a closed connection
            connection.sendall(b"X-Drip-%d: 1\r\n" % line)
    answer = read_unless_reset(connection)
    closed_after = time.monotonic() - started
    assert closed_after < CUT_OFF_BY, closed_after
    assert answer is None or answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_client_that_does_not_read_its_answers_holds_no_slot_and_is_cut_off(
    stall_server: ServingProcess,
) -> None:
    """Limit 2. Three clients each ask for two 9 MB answers and read none. Before, each of them held an
    admission slot (writing its second answer waited forever for the client to read the first), so every
    other request got 503 for as long as they stayed connected, and each kept ~9 MB of answer in memory."""
    stalled = []
    for _ in range(3):
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
        connection.settimeout(10)
        connection.connect(("127.0.0.1", stall_server.port))
        connection.sendall(gram_request(LARGE_N) * 2)
        stalled.append(connection)

    def served() -> int | None:  # the six answers take a moment to compute: until then, 503 is fair
        answer = httpx.post(f"{stall_server.url}/v2/models/gram/infer", content=gram_body(2))
        return answer.status_code if answer.status_code == 200 else None

    # On the previous main this stayed 503 for as long as the three stayed connected.
    assert wait_for("a request served beside the clients that do not read", served, timeout=5, every=0.1)
    time.sleep(CUT_OFF_BY)
    # Aborted: a reset (None), or the few kilobytes that were already in the client's window.
    received = [read_unless_reset(connection) for connection in stalled]
    whole_answer = 4 * LARGE_N * LARGE_N
    assert all(answer is None or len(answer) < whole_answer for answer in received), received


def test_a_connection_that_sends_nothing_is_idle_not_stalled(stall_server: ServingProcess) -> None:
    """Proxies open connections ahead of requests and keep them pooled: an unused connection is idle,
    kept past the stall limit and closed only after FERRYMAN_KEEP_ALIVE_SECONDS (before: never). So is
    one that sent only blank lines, which begin no request."""
    started = time.monotonic()
    pooled, unused, blank = (connect(stall_server.port) for _ in range(3))
    blank.sendall(b"\r\n\r\n")
    time.sleep(STALL_SECONDS + 1.5)
    pooled.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = read_until_closed(pooled)
    assert read_until_closed(unused) == b""
    assert read_until_closed(blank) == b""
    closed_after = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert KEEP_ALIVE_SECONDS <= closed_after < KEEP_ALIVE_SECONDS + 2.0, closed_after


def test_headers_over_the_limit_get_a_431_and_the_connection_closes(stall_server: ServingProcess) -> None:
    """One header streamed without end. Before, the parser grew it by concatenation on the event loop:
    74 MB in 8 s from one client held a probe for 0.93 s, and the stream never ended."""
    connection = connect(stall_server.port)
    connection.sendall(b"GET /v2/health/live HTTP/1.1\r\nX-Endless: ")
    sent, give_up_at = 0, 8 * 1024 * 1024  # far more than the limit and the socket buffers hold
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the server may close mid-send
        while sent < give_up_at and not select.select([connection], [], [], 0)[0]:
            connection.sendall(b"a" * 4096)
            sent += 4096
    answer = read_unless_reset(connection)
    assert sent < give_up_at  # the server ended the connection long before
    assert answer is None or (answer.startswith(b"HTTP/1.1 431 ") and b"FERRYMAN_MAX_HEADER_BYTES" in answer)


def test_headers_just_under_the_limit_are_served_though_they_arrive_in_pieces(
    stall_server: ServingProcess,
) -> None:
    connection = connect(stall_server.port)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    filler = b"X-Filler: " + b"a" * (MAX_HEADER_BYTES - len(head) - 200) + b"\r\n"
    request = head + filler + b"\r\n"
    for start in range(0, len(request), 2048):
        connection.sendall(request[start : start + 2048])
        time.sleep(0.002)  # separate reads on the server
    answer = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_a_client_that_leaves_with_pipelined_requests_queued_logs_no_error(
    stall_server: ServingProcess,
) -> None:
    """uvicorn marks only the request being answered as disconnected: the queued ones then wrote to the
    closed transport, and each write logged an ERROR with a traceback (a client could flood the log)."""
    before = stall_server.logs().count("Exception in ASGI application")
    for _ in range(10):
        with contextlib.closing(socket.create_connection(("127.0.0.1", stall_server.port))) as connection:
            connection.sendall(gram_request(2) * 3)
            connection.recv(10)  # the first bytes of the first answer, then leave
    time.sleep(1.0)
    assert httpx.get(f"{stall_server.url}/v2/health/ready").status_code == 200
    assert stall_server.logs().count("Exception in ASGI application") == before, stall_server.logs()[-3000:]
