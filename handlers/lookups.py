"""A few-seconds cache of what the renewal form shows (a token by id or name, its accounts, the kinds).

Why: under a burst of clicks the form's lookups were the largest share of the
CPU each request costs, and that CPU delays the next request's ack. What the
form shows may be a few seconds old; what a submission changes is always read
fresh inside its transaction, so nothing is decided on cached data: a form
built from a token that another process renewed meanwhile carries the old
version, and its submission is refused with "changed while your form was open".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import select

from renewbot.domain.kinds import Kind, resolve
from renewbot.usecases.kinds import team_kinds
from storage import queries, search
from storage.db import session_scope
from storage.models import Account, Token

TTL_SECONDS = 5.0


class FormLookups:
    def __init__(self, engine: Engine, *, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine, self._ttl, self._clock = engine, ttl, clock
        self._lock = threading.Lock()
        self._entries: dict[object, tuple[float, object]] = {}

    def _cached(self, key: object, load: Callable[[], object]):
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()
        with self._lock:
            if len(self._entries) > 1000:  # many tokens clicked in a few seconds: start again
                self._entries.clear()
            self._entries[key] = (now + self._ttl, value)
        return value

    def channel_now(self, token_id: str) -> str | None:
        """The token's channel read now, not cached: a submission decides with it."""
        with session_scope(self._engine) as session:
            return session.exec(select(Token.channel).where(Token.id == token_id)).first()

    def token(self, ref: str) -> Token | None:
        """By id or name; only hits are kept, so a token imported a moment ago is found at once."""
        key = ("token", ref)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > self._clock():
                return hit[1]
        with session_scope(self._engine) as session:
            token = queries.find_token(session=session, ref=ref)
        return token if token is None else self._cached(key, lambda: token)

    def kind(self, kind_id: str) -> Kind:
        """The token kind, built-in or defined by the team's import file."""
        def load():
            with session_scope(self._engine) as session:
                return team_kinds(session=session)
        return resolve(kind_id, self._cached("kinds", load))

    def accounts(self, token_id: str) -> list[Account]:
        def load():
            with session_scope(self._engine) as session:
                return queries.token_accounts(session=session, token_id=token_id)
        return self._cached(("accounts", token_id), load)

    # Searches are never cached: a token imported a moment ago is found at once, and each keystroke is a new query.
    def search_tokens(self, query: str, limit: int) -> list[search.TokenRow]:
        with session_scope(self._engine) as session:
            return search.search_tokens(session=session, query=query, limit=limit)

    def search_accounts(self, query: str, limit: int, *, token_id: str | None = None) -> list[search.AccountRow]:
        with session_scope(self._engine) as session:
            return search.search_accounts(session=session, query=query, limit=limit, token_id=token_id)

    def no_fetch_ids(self, token_id: str) -> frozenset[str]:
        """Read now, not cached: a submission decides with it."""
        with session_scope(self._engine) as session:
            return search.no_fetch_ids(session=session, token_id=token_id)

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
