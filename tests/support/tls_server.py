"""A local TLS server for `source: tls://...` tests: its certificate can be swapped while it runs.

Certificates are self-signed and made at test time (cryptography), with the notAfter a test chooses. The
server records the SNI name of every handshake. Modes: "serve" (normal), "drop" (accept, then close at once:
the handshake fails), "silent" (accept, never answer: a read must time out).
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificate(not_after: datetime, *, common_name: str = "shop.test",
                     not_before: datetime | None = None) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM): self-signed, valid until `not_after`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "renewbot tests")])
    start = not_before or min(not_after, datetime.now(UTC)) - timedelta(days=365)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name), x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class TlsServer:
    """Listens on 127.0.0.1; `source` is its tls://localhost:PORT address (a name, so SNI is sent)."""

    def __init__(self, not_after: datetime, *, common_name: str = "shop.test", mode: str = "serve") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="renewbot-tls-")
        self._serial = 0
        self._lock = threading.Lock()
        self.mode = mode
        self.server_names: list[str | None] = []  # the SNI of each handshake, None when the client sent none
        self.connections = 0
        self._held: list[socket.socket] = []
        self._context = self._context_for(not_after, common_name)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _context_for(self, not_after: datetime, common_name: str) -> ssl.SSLContext:
        cert, key = make_certificate(not_after, common_name=common_name)
        self._serial += 1
        cert_path, key_path = (Path(self._dir.name) / f"{self._serial}.{ext}" for ext in ("crt", "key"))
        cert_path.write_bytes(cert)
        key_path.write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        context.sni_callback = self._sni
        return context

    def _sni(self, _sock, server_name, _context) -> None:
        with self._lock:
            self.server_names.append(server_name)

    def swap(self, not_after: datetime, *, common_name: str = "shop.test") -> None:
        """Serves a new certificate from the next handshake on, without a restart."""
        self._context = self._context_for(not_after, common_name)

    @property
    def port(self) -> int:
        return self._port  # still known after stop(): a stopped server is an unreachable source

    @property
    def source(self) -> str:
        return f"tls://localhost:{self.port}"

    def start(self) -> TlsServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tls-server")
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.mode == "silent":
            with self._lock:
                self._held.append(conn)  # open, unanswered, until stop()
            return
        if self.mode == "drop":
            conn.close()
            return
        conn.settimeout(5)
        try:
            with self._context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the client closes
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self._dir.cleanup()

    def __enter__(self) -> TlsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
