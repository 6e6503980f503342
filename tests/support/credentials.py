"""Real credentials for tests: signed JWTs and self-signed certificates with chosen expiries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(claims: dict, *, header: dict | None = None, key: bytes = b"test-signing-key") -> str:
    """An HS256 JWT, really signed (renewbot never checks the signature, but a real one is what people paste)."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


@cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(not_after: datetime, *, common_name: str = "shop.example",
                     not_before: datetime | None = None) -> str:
    """A self-signed PEM certificate valid until `not_after`."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_key().public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or not_after - timedelta(days=90)).not_valid_after(not_after)
            .sign(_key(), hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def private_key_pem(fmt: str = "pkcs8") -> str:
    formats = {"pkcs8": serialization.PrivateFormat.PKCS8,
               "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
               "openssh": serialization.PrivateFormat.OpenSSH}
    return _key().private_bytes(serialization.Encoding.PEM, formats[fmt],
                                serialization.NoEncryption()).decode()
