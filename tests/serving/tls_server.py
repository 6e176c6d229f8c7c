"""An HTTPS file server on 127.0.0.1 with a throwaway self-signed certificate (for download tests).

Paths under /to-http/ answer 302 to the same path on a plain-HTTP base URL; anything else is a file."""

from __future__ import annotations

import functools
import ssl
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ferryman_testing.certificates import write_self_signed
from ferryman_testing.file_server import ServerThread


class _Handler(SimpleHTTPRequestHandler):
    http_base = ""

    def do_GET(self) -> None:
        if self.path.startswith("/to-http/"):
            self.send_response(302)
            self.send_header("Location", f"{self.http_base}/{self.path.removeprefix('/to-http/')}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return


class TlsFileServer(ServerThread):
    """Serves `root` at https://127.0.0.1:PORT/ with the certificate in `cert_dir`; `.cert` is its PEM."""

    def __init__(self, root: Path, cert_dir: Path, http_base: str) -> None:
        self.cert, key = write_self_signed(cert_dir)
        handler = type("Handler", (_Handler,), {"http_base": http_base})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
