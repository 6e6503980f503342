"""Keys for the inbound API: create (shown once), list, revoke, and check the key a request presents.

A key is `rbk_` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored: with that much entropy a
plain hash cannot be searched, so a slow password hash (bcrypt and the like) would only slow every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from renewbot.errors import RenewbotError
from storage import apikeys
from storage.models import ApiKey

SCOPES = ("state", "calendar", "metrics")  # every scope a key can hold
# What a key created without --scope holds: reporting account state. `calendar` and `metrics` are asked for by
# name: a calendar key travels in URLs (see runtime/feeds.py), a metrics key is for the Prometheus scraper alone.
DEFAULT_SCOPES = ("state",)
KEY_PREFIX = "rbk_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# RFC 6750's b64token, bounded: what may follow "Bearer ". Anything else is refused before it is hashed.
BEARER_RE = re.compile(r"Bearer +([A-Za-z0-9._~+/-]{1,200}=*) *", re.IGNORECASE)
MAX_AUTHORIZATION = 256  # characters of the Authorization header looked at; a longer one is refused unread


class ApiKeyError(RenewbotError):
    """A key command refused: the message says why, and nothing was changed."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key, never its hash."""
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(name=row.name, scopes=tuple(row.scopes), created_at=row.created_at, revoked_at=row.revoked_at)


@dataclass(frozen=True, repr=False)
class CreatedKey:
    info: KeyInfo
    key: str  # the only copy: printed once, then gone

    def __repr__(self) -> str:  # a key must not reach a log line through repr()
        return f"CreatedKey({self.info!r}, key=<hidden>)"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _scopes(requested: Iterable[str] | None) -> tuple[str, ...]:
    chosen = list(dict.fromkeys(requested or ()))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope {unknown[0]!r} (scopes: {', '.join(SCOPES)})")
    # In SCOPES' order, so the same choice always reads the same.
    return tuple(s for s in SCOPES if s in chosen) if chosen else DEFAULT_SCOPES


def create_key(*, session: Session, name: str, scopes: Iterable[str] | None, now: datetime) -> CreatedKey:
    if not NAME_RE.fullmatch(name):
        raise ApiKeyError("a key name is 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    chosen = _scopes(scopes)
    if apikeys.live_key_named(session=session, name=name) is not None:
        raise ApiKeyError(f"a key named {name!r} exists already: revoke it first, or choose another name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        row = apikeys.insert_key(session=session, name=name, key_hash=hash_key(key), scopes=chosen, created_at=now)
    except IntegrityError:  # another `create` of the same name committed between the check and this insert
        raise ApiKeyError(f"a key named {name!r} exists already: revoke it first, or choose another name") from None
    return CreatedKey(info=KeyInfo.of(row), key=key)


def list_keys(*, session: Session) -> list[KeyInfo]:
    return [KeyInfo.of(row) for row in apikeys.list_keys(session=session)]


def revoke_key(*, session: Session, name: str, now: datetime) -> bool:
    """True when a live key of that name was revoked; requests with it get 401 from then on."""
    return apikeys.revoke_named(session=session, name=name, now=now) > 0


def bearer_key(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer <key>` header, or None for a missing, long or malformed one."""
    if not authorization or len(authorization) > MAX_AUTHORIZATION:
        return None
    match = BEARER_RE.fullmatch(authorization)
    return match.group(1) if match else None


def authenticate(*, session: Session, key: str) -> KeyInfo | None:
    """The live key `key` is, or None.

    The presented key's hash is compared with every live key's, each with hmac.compare_digest and without
    stopping at a match. Not `WHERE key_hash = ?`: that comparison happens in the database's index, whose
    timing is not ours to make constant. Keys are few (made by hand, one per platform or script), so reading
    them all is one small query, and no prefix column is needed to narrow them down."""
    candidate = hash_key(key).encode()
    found = None
    for row in apikeys.live_keys(session=session):
        if hmac.compare_digest(candidate, row.key_hash.encode()):
            found = row
    return KeyInfo.of(found) if found is not None else None
