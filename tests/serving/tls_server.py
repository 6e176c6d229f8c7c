"""An HTTPS file server on 127.0.0.1 with a throwaway self-signed certificate (for download tests).

Paths under /to-http/ answer 302 to the same path on a plain-HTTP base URL; anything else is a file."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ferryman_testing.file_server import ServerThread


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for IP 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


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
