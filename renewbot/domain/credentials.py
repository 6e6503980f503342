"""Reading the expiry out of a pasted credential: a JWT's `exp`, a PEM certificate's notAfter. Pure.

Nothing here verifies a signature or a chain: the value is the person's own new credential, and all renewbot
wants from it is the date it stops working. The input is hostile until proven otherwise (it is pasted text), so
every size is bounded before anything is decoded, and the only exception that leaves this module is
CredentialProblem, whose message is safe to show: it never repeats the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

# Larger than any form accepts (Slack: 3,000 characters): the parsers bound themselves, whoever calls them.
MAX_VALUE = 64 * 1024
MAX_JWT_SEGMENT = 16 * 1024
MAX_JSON_DEPTH = 32
# 0001-01-01 .. 9999-12-31 would do for datetime; a credential outside 1970..9999 is a bogus value, not a date.
LATEST_EXP = 253402300799  # 9999-12-31T23:59:59Z

PRIVATE_KEY = "This is a private key, not a certificate: paste the certificate (-----BEGIN CERTIFICATE-----). " \
              "The key was not stored."

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Bounded label: a PEM label is a few words; an unbounded one would let a hostile value make this scan quadratic.
_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40})-----")
_CERT_BEGIN, _CERT_END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


class CredentialProblem(ValueError):
    """The value cannot be read; the message says why, for the person, without repeating the value."""


@dataclass(frozen=True)
class ReadCredential:
    expires_at: datetime  # aware, UTC
    subject: str | None = None  # a certificate's subject (RFC 4514); None for a JWT


def has_private_key(value: str) -> bool:
    """Whether any PEM block in `value` is a private key (PKCS#8, RSA, EC, OpenSSH, encrypted...), even in a chain."""
    if not isinstance(value, str) or "PRIVATE KEY-----" not in value:
        return False
    return any(m.group(1).endswith("PRIVATE KEY") for m in _PEM_BEGIN.finditer(value))


def _bounded(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CredentialProblem(f"Paste the {what}.")
    if len(value) > MAX_VALUE:
        raise CredentialProblem(f"That is far too long for a {what}.")
    return value.strip()


def _b64url(segment: str, what: str) -> bytes:
    if len(segment) > MAX_JWT_SEGMENT:
        raise CredentialProblem(f"The JWT's {what} is too long to be real.")
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise CredentialProblem(f"The JWT's {what} is not base64url: check you copied all of it.")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise CredentialProblem(f"The JWT's {what} is not base64url: check you copied all of it.") from None


def _json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects, strings skipped: checked before json.loads may recurse."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constants(name: str) -> float:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _json_object(raw: bytes, what: str) -> dict:
    problem = CredentialProblem(f"The JWT's {what} is not a JSON object: check you copied all of it.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise problem from None
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise problem
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError, and ints longer than Python converts
        raise problem from None
    if not isinstance(data, dict):
        raise problem
    return data


def _moment(seconds: object, what: str) -> datetime:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise CredentialProblem(f"The JWT's {what} is not a number of seconds.")
    if not (isinstance(seconds, int) or math.isfinite(seconds)) or not 0 <= seconds <= LATEST_EXP:
        raise CredentialProblem(f"The JWT's {what} is not a real date.")
    return datetime.fromtimestamp(int(seconds), UTC)


def read_jwt(value: object) -> ReadCredential:
    """The expiry (`exp`) of a compact JWS, signature not checked. Raises CredentialProblem."""
    value = _bounded(value, "JWT")
    parts = value.split(".")
    if len(parts) == 5:
        raise CredentialProblem("This is an encrypted JWT (five parts): renewbot can't read its expiry.")
    if len(parts) != 3:
        raise CredentialProblem("A JWT has three parts separated by dots (header.payload.signature): "
                                "check you copied all of it.")
    header, payload, signature = parts
    _json_object(_b64url(header, "header"), "header")
    claims = _json_object(_b64url(payload, "payload"), "payload")
    _b64url(signature, "signature")
    if "exp" not in claims:
        raise CredentialProblem("This JWT has no expiry (`exp`): renewbot can't tell when it ends.")
    return ReadCredential(expires_at=_moment(claims["exp"], "expiry (`exp`)"))


def _first_certificate_der(value: str) -> bytes:
    start = value.find(_CERT_BEGIN)
    if start < 0:
        raise CredentialProblem("Paste the certificate in PEM form, from -----BEGIN CERTIFICATE----- "
                                "to -----END CERTIFICATE-----.")
    end = value.find(_CERT_END, start)
    if end < 0:
        raise CredentialProblem("The certificate has no -----END CERTIFICATE----- line: check you copied all of it.")
    body = "".join(value[start + len(_CERT_BEGIN):end].split())
    try:
        return binascii.a2b_base64(body.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise CredentialProblem("The certificate's text is damaged (not base64): check you copied all of it.") \
            from None


def read_certificate(value: object) -> ReadCredential:
    """notAfter and subject of the first (leaf) certificate of a PEM chain. Raises CredentialProblem.

    A private key anywhere in the value is refused, so it can never be stored by mistake with its certificate.
    """
    value = _bounded(value, "certificate")
    if has_private_key(value):
        raise CredentialProblem(PRIVATE_KEY)
    der = _first_certificate_der(value)
    try:
        cert = x509.load_der_x509_certificate(der)
        not_after = cert.not_valid_after_utc
    except Exception:  # the parser's errors vary by field; all mean "not a certificate"
        raise CredentialProblem("This is not a readable X.509 certificate: check you copied all of it.") from None
    try:
        subject = cert.subject.rfc4514_string()[:300] or None
    except Exception:  # an odd subject must not make a good expiry unreadable
        subject = None
    return ReadCredential(expires_at=not_after.astimezone(UTC), subject=subject)
