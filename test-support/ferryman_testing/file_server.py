"""A static HTTP file server on 127.0.0.1 in a thread, recording request headers (for loader tests)."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class _RecordingHandler(SimpleHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return


class ServerThread:
    """Runs `self.httpd` (set by the subclass) in a thread for the length of a `with` block."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class StaticFileServer(ServerThread):
    """Serves `root` at http://127.0.0.1:PORT/; `.seen` lists (path, headers) of every GET."""

    def __init__(self, root: Path) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        handler = type("Handler", (_RecordingHandler,), {"seen": self.seen})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
