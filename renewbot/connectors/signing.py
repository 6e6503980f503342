"""The `Renewbot-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.

The timestamp is signed with the body so a captured request cannot be replayed later than `tolerance`;
receivers drop repeats within that window by `Renewbot-Delivery`. examples/receiver.py writes the same
check out with the standard library only, for platforms to copy.
"""

from __future__ import annotations

import hashlib
import hmac
import re

MAX_HEADER = 512  # a real header is about 80 characters; anything longer is not ours
TOLERANCE_SECONDS = 300
# Several v1 values are allowed so a receiver may accept the signature of an old and a new secret alike.
HEADER_RE = re.compile(r"t=(?P<t>[0-9]{1,12})(?P<sigs>(?:,v1=[0-9a-f]{64}){1,4})")


def _digest(secret: str | bytes, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    if not secret:
        raise ValueError("a signing secret is required")
    return f"t={int(timestamp)},v1={_digest(secret, body, int(timestamp))}"


def verify(secret: str | bytes, body: bytes, header: str | None, now: float,
           tolerance: float = TOLERANCE_SECONDS) -> bool:
    """True when `header` signs exactly `body` with `secret` and its timestamp is within `tolerance` of `now`."""
    if not secret or not isinstance(header, str) or len(header) > MAX_HEADER:
        return False
    match = HEADER_RE.fullmatch(header)
    if match is None:
        return False
    timestamp = int(match["t"])
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp)
    found = False
    for candidate in match["sigs"].split(",v1=")[1:]:
        found |= hmac.compare_digest(expected, candidate)  # every candidate compared: no early exit
    return found
