"""Reads the certificate a TLS server serves: the network side of `source: tls://host:port`.

Only the leaf's dates and names are wanted, so the chain and the host name are not verified: a self-signed or
expired certificate is read like any other (renewbot reports its date; it trusts nothing from it).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

READ_TIMEOUT = 5.0
# Subjects and issuers are shown in status: long ones (many RDNs) are clipped, not stored whole.
MAX_NAME = 300
MAX_ERROR = 200


@dataclass(frozen=True)
class CertificateRead:
    not_after: datetime  # aware, UTC
    subject: str
    issuer: str


class SourceReadError(Exception):
    """The certificate could not be read; str() is a short reason fit for status (no stack trace)."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_leaf(der: bytes) -> CertificateRead:
    """The leaf's notAfter, subject and issuer (RFC 4514 strings) from its DER bytes."""
    try:
        cert = x509.load_der_x509_certificate(der)
        not_after = cert.not_valid_after_utc
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except Exception as exc:  # cryptography raises ValueError and friends for malformed input
        raise SourceReadError(f"the served certificate could not be parsed ({type(exc).__name__})") from None
    return CertificateRead(not_after=not_after.astimezone(UTC), subject=_clip(subject, MAX_NAME),
                           issuer=_clip(issuer, MAX_NAME))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    """socket.create_connection, except that every address tried shares one deadline (create_connection gives
    each address the whole timeout: a name with several dead addresses would wait several times over)."""
    last: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last or OSError(f"no address for {host}")


def read_certificate(host: str, port: int, *, timeout: float = READ_TIMEOUT) -> CertificateRead:
    """Connects, shakes hands with SNI set to `host` (none for an IP literal, as RFC 6066 says) and reads the leaf.

    `timeout` bounds connecting (every address the name resolves to, together) and the handshake, from one
    deadline. Name resolution is not bounded: getaddrinfo takes no timeout, so a slow resolver can add its own
    (the system resolver's, typically seconds). Raises SourceReadError.
    """
    deadline = time.monotonic() + timeout
    phase = "connect"
    try:
        with _connect(host, port, deadline) as raw:
            phase = "handshake"
            raw.settimeout(max(0.01, deadline - time.monotonic()))
            server_name = None if _is_ip(host) else host
            with _client_context().wrap_socket(raw, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except TimeoutError:
        raise SourceReadError(f"timed out after {timeout:g} s") from None
    except socket.gaierror as exc:
        raise SourceReadError(_clip(f"host name not resolved ({exc.strerror or exc})", MAX_ERROR)) from None
    except ssl.SSLError as exc:
        reason = exc.reason or type(exc).__name__
        raise SourceReadError(_clip(f"TLS handshake failed ({reason})", MAX_ERROR)) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        if phase == "handshake":  # the server took the connection, then reset or closed it
            raise SourceReadError(_clip(f"TLS handshake failed ({why})", MAX_ERROR)) from None
        if isinstance(exc, ConnectionRefusedError):
            raise SourceReadError("connection refused") from None
        raise SourceReadError(_clip(f"connection failed ({why})", MAX_ERROR)) from None
    if not der:
        raise SourceReadError("the server presented no certificate")
    return parse_leaf(der)
