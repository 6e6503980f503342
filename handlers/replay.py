"""Replayed and too frequent Slack requests, dropped before bolt runs a listener, across replicas.

Slack's signature stays valid for 5 minutes, so a captured signed request could be sent again and again (one
"Renewal steps" click sent five times posted five runbooks). After the signature check, every slash command and
interactive request claims a key in the Once table (the primary key decides, so replicas share it):

- a button or select (block_actions): the user, the action_id and Slack's action_ts: one per click;
- a slash command (and any other interactive payload): the signature itself, which covers the request's
  timestamp and every byte of its body, so only the same request sent again has it;
- a form submission (view_submission) is left alone: the form's version check already refuses a second one and
  tells the person (refusing it here would silently close the form), and each needs a form opened by a command
  or a click, which are limited.

A key already claimed means a replay: the request is acknowledged (200, empty body) and nothing runs. The same
rows count each person's requests over the last minute (the key starts with the user); beyond PER_MINUTE, the
request is acknowledged and dropped too, with one WARNING per person and minute. Form submissions, options
loads for selects (block_suggestion) and the Events API are neither deduplicated nor counted.

Cost: one transaction of two statements (the claim, and the count over that user's few recent keys); every
PRUNE_EVERY requests a process also deletes expired keys. If the database cannot be reached the request is let
through (logged): the listeners need the database anyway and report their own failure.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from storage import once
from storage.models import Once

logger = logging.getLogger(__name__)

PER_MINUTE: int | None = 30  # requests per person per minute; a person clicks a few times a minute at most
PER_MINUTE_DEFAULT = object()
# Slack's signature check accepts a timestamp up to 5 minutes either side of now, so a replay of a request that
# arrived now can come until its timestamp + 5 minutes, itself at most now + 5: keys must outlive now + 10.
KEEP = timedelta(minutes=11)
WINDOW = timedelta(minutes=1)  # the rate limit's: a key created within it has expires_at > now + KEEP - WINDOW
PRUNE_EVERY = 500
# Kept as they are in keys (and safe in a LIKE pattern); anything else is hashed.
_PLAIN_ID = re.compile(r"[A-Za-z0-9]{1,24}")
_NOT_GUARDED = frozenset({"block_suggestion", "view_submission"})


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _user_part(user: object) -> str:
    if isinstance(user, str) and _PLAIN_ID.fullmatch(user):
        return user
    return "h" + _digest(repr(user))[:16]


def request_key(body: bytes, signature: str) -> tuple[str, str] | None:
    """(the user's key prefix, this request's identity), or None when the request is not guarded. `body` is a
    signed body bolt can read."""
    text = body.decode("utf-8")
    if text.lstrip().startswith("{"):
        return None  # the Events API (JSON): Slack's own retries are bolt's business
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except (ValueError, RecursionError):
            return None
        if not isinstance(payload, dict) or payload.get("type") in _NOT_GUARDED:
            return None
        user = payload.get("user")
        prefix = f"r:{_user_part(user.get('id') if isinstance(user, dict) else None)}:"
        kind = payload.get("type")
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        action_id, action_ts = action.get("action_id"), action.get("action_ts")
        if kind == "block_actions" and isinstance(action_id, str) and isinstance(action_ts, str) and action_ts:
            return prefix, "a" + _digest(action_id, action_ts)
        return prefix, "s" + _digest(signature)
    if "command" in form:
        return f"r:{_user_part(form.get('user_id', [None])[0])}:", "s" + _digest(signature)
    return None


class ReplayGuard:
    def __init__(self, engine: Engine, *, per_minute: int | object | None = PER_MINUTE_DEFAULT,
                 prune_every: int = PRUNE_EVERY, clock: Callable[[], float] = time.time) -> None:
        """per_minute=None: replays are still dropped, but nobody is rate limited. Unset: PER_MINUTE as it is
        now (a test that floods the bot on purpose may set the module's PER_MINUTE to None)."""
        self.engine = engine
        self.per_minute = PER_MINUTE if per_minute is PER_MINUTE_DEFAULT else per_minute
        self.prune_every = prune_every
        self.clock = clock
        self._seen = itertools.count()

    def admit(self, body: bytes, signature: str) -> bool:
        """Whether bolt should handle this signed request: False for a replay or a person over the limit."""
        try:
            found = request_key(body, signature)
        except (UnicodeDecodeError, ValueError):
            return True  # bolt answers what it cannot read
        if found is None:
            return True
        prefix, identity = found
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            with self.engine.connect() as conn, _fast_commit(conn), Session(bind=conn) as session, session.begin():
                if next(self._seen) % self.prune_every == 0:
                    once.prune(session=session, now=now)
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))  # see _fast_commit
                key = prefix + identity
                if not once.claim(session=session, key=key, expires_at=now + KEEP):
                    logger.info("dropped a replayed Slack request (%s)", "click" if key[len(prefix)] == "a"
                                else "request")
                    return False
                if self.per_minute is None:
                    return True
                recent = session.execute(select(func.count()).select_from(Once).where(
                    _starts_with(session, prefix), col(Once.expires_at) > now + KEEP - WINDOW)).scalar_one()
                if recent <= self.per_minute:
                    return True
                minute = int(now.timestamp()) // 60
                if once.claim(session=session, key=f"rl{prefix[1:]}{minute}", expires_at=now + KEEP):
                    logger.warning("user %s: more than %d Slack requests in a minute; dropping them for now",
                                   prefix[2:-1], self.per_minute)
                return False
        except SQLAlchemyError as exc:
            logger.warning("replay check skipped: database unavailable (%s)", type(exc).__name__)
            return True


@contextmanager
def _fast_commit(conn: Connection) -> Iterator[None]:
    """This connection's next commit does not wait for the disk (the ack budget is tight; an fsync alone is ~4 ms).

    A crash of the machine may then lose the last claims (at most a fraction of a second), and only the replay
    check of those requests: acceptable for rows that live 11 minutes. Nothing else is committed this way.
    """
    if conn.dialect.name == "sqlite":
        # WAL with synchronous=NORMAL: the commit is durable against a crash of the process, not of the machine.
        # Only outside a transaction, and set back before the pooled connection serves anyone else.
        previous = int(conn.exec_driver_sql("PRAGMA synchronous").scalar())
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        conn.commit()  # ends SQLAlchemy's implicit transaction, so the session below commits its own
        try:
            yield
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"PRAGMA synchronous={previous}")
            conn.commit()
    else:
        yield


def _starts_with(session: Session, prefix: str):
    if session.get_bind().dialect.name == "sqlite":
        # SQLite compares bytes: a range on the primary key's index ("r:U1:" <= key < "r:U1;").
        return (col(Once.key) >= prefix) & (col(Once.key) < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    # PostgreSQL's collations may ignore punctuation in ranges; the prefix has no LIKE wildcards.
    return col(Once.key).like(prefix + "%")
