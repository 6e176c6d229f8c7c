"""HTTP over a bare socket, for clients no HTTP library would be: ones that stall halfway."""

from __future__ import annotations

import socket


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    """A connection to 127.0.0.1:port whose reads raise after timeout seconds of silence."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; raises on the socket's timeout."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    connection.close()
    return b"".join(chunks)
