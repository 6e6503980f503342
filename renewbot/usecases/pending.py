"""Renewals waiting for their secret from outside Slack: the private page's one-time link, Amazon's `state`.

The key handed out (in a URL) is random (256 bits) and only its SHA-256 is stored: a database reader cannot
open the link. A pending renewal is bound to one person, one token at one version, and the choices made in the
form; it is consumed once, in the renewal's own transaction. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from storage import pending as store
from storage.models import PendingRenewal

PAGE = "page"
AMAZON = "amazon"
KINDS = (PAGE, AMAZON)
PAGE_TTL = timedelta(minutes=10)
AMAZON_TTL = timedelta(minutes=15)
# Refusal reasons (PendingRefused.reason)
UNKNOWN, EXPIRED, USED, FOREIGN = "unknown", "expired", "used", "foreign"
# A dead key is answered "used" or "expired" (410) for this long, then "unknown" (404): rows are pruned as new ones
# are made, so the table holds about a day's worth.
KEEP_AFTER_EXPIRY = timedelta(days=1)
# How long an Amazon callback holds a state while it exchanges the code: longer than the exchange's deadline
# (amazon_oauth.EXCHANGE_DEADLINE_SECONDS), so a claim never lapses while its exchange can still succeed.
CLAIM = timedelta(seconds=30)
MAX_KEY = 200  # a key is 43 characters; anything far longer is not one of ours, and is never hashed


class PendingRefused(Exception):
    """The key cannot be used: `reason` is UNKNOWN, EXPIRED, USED or FOREIGN (another person, another flow)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Choices:
    """What the person chose in the form; never a secret. `accounts`: the token's accounts the form showed
    (an account added after it keeps its flags)."""
    expiry: date | None = None
    reenable: frozenset[str] = frozenset()
    no_fetch: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()

    def dump(self) -> dict:
        return {"expiry": self.expiry.isoformat() if self.expiry else None, "reenable": sorted(self.reenable),
                "no_fetch": sorted(self.no_fetch), "accounts": sorted(self.accounts)}

    @classmethod
    def load(cls, raw: dict) -> Choices:
        def ids(name: str) -> frozenset[str]:
            value = raw.get(name) or []
            return frozenset(v for v in value if isinstance(v, str)) if isinstance(value, list) else frozenset()

        expiry = raw.get("expiry")
        return cls(expiry=date.fromisoformat(expiry) if isinstance(expiry, str) else None,
                   reenable=ids("reenable"), no_fetch=ids("no_fetch"), accounts=ids("accounts"))


@dataclass(frozen=True)
class Pending:
    """A pending renewal as read: everything but its key."""
    id: int
    kind: str
    token_id: str
    token_version: int
    user_id: str
    choices: Choices
    thread_channel: str | None
    created_at: datetime
    expires_at: datetime
    csrf_key: str = field(repr=False)  # per-row: what the private page's form token is an HMAC with


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read(row: PendingRenewal) -> Pending:
    return Pending(id=row.id, kind=row.kind, token_id=row.token_id, token_version=row.token_version,
                   user_id=row.user_id, choices=Choices.load(row.choices or {}), thread_channel=row.thread_channel,
                   created_at=_aware(row.created_at), expires_at=_aware(row.expires_at),
                   csrf_key=str((row.choices or {}).get("csrf_key", "")))


def create(*, session: Session, kind: str, token_id: str, token_version: int, user_id: str, choices: Choices,
           now: datetime, thread_channel: str | None = None, ttl: timedelta | None = None) -> tuple[str, Pending]:
    """(the key to hand out, the row). The key itself is stored nowhere."""
    if kind not in KINDS:
        raise ValueError(f"unknown pending renewal kind {kind!r}")
    store.prune(session=session, before=now - KEEP_AFTER_EXPIRY)
    key = secrets.token_urlsafe(32)
    ttl = ttl or (PAGE_TTL if kind == PAGE else AMAZON_TTL)
    row = store.add(session=session, row=PendingRenewal(
        key_hash=key_hash(key), kind=kind, token_id=token_id, token_version=token_version, user_id=user_id,
        choices={**choices.dump(), "csrf_key": secrets.token_urlsafe(32)}, thread_channel=thread_channel,
        created_at=now, expires_at=now + ttl))
    return key, _read(row)


def peek(*, session: Session, key: str | None, kind: str, now: datetime, user_id: str | None = None) -> Pending:
    """The usable pending renewal for `key`, without consuming it; raises PendingRefused."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise PendingRefused(UNKNOWN)
    row = store.by_key_hash(session=session, key_hash=key_hash(key))
    if row is None:
        raise PendingRefused(UNKNOWN)
    if row.kind != kind or (user_id is not None and row.user_id != user_id):
        raise PendingRefused(FOREIGN)
    if row.used_at is not None:
        raise PendingRefused(USED)
    if _aware(row.expires_at) <= now:
        raise PendingRefused(EXPIRED)
    return _read(row)


def consume(*, session: Session, key: str | None, kind: str, now: datetime, user_id: str | None = None) -> Pending:
    """peek(), then marks it used in the caller's transaction (which commits it with the renewal, or rolls both
    back). Raises PendingRefused(USED) when another request consumed it meanwhile."""
    found = peek(session=session, key=key, kind=kind, now=now, user_id=user_id)
    if not store.mark_used(session=session, row_id=found.id, now=now):
        raise PendingRefused(USED)
    return found


def claim(*, session: Session, pending: Pending, now: datetime) -> bool:
    """Holds `pending` for CLAIM in the caller's transaction, which commits it before anything is spent; False when
    another request (in any replica) holds it or it was used meanwhile."""
    return store.claim(session=session, row_id=pending.id, now=now, until=now + CLAIM)


def release(*, session: Session, pending: Pending) -> None:
    """Gives up a claim (nothing was spent: the same link can be pressed again at once)."""
    store.release(session=session, row_id=pending.id)


def form_token(pending: Pending) -> str:
    """The private page's CSRF token: an HMAC of the row with its own random key (shared by every replica,
    unlike a per-process secret; never derived from the link alone)."""
    return hmac.new(pending.csrf_key.encode(), f"renewbot page v1:{pending.id}".encode(), hashlib.sha256).hexdigest()


def form_token_ok(pending: Pending, given: str | None) -> bool:
    return (isinstance(given, str) and bool(pending.csrf_key)
            and hmac.compare_digest(form_token(pending).encode(), given.encode()))
