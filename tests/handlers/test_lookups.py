"""The form's short-lived cache: stale for at most its TTL, emptied by a renewal."""

from __future__ import annotations

from datetime import timedelta

from handlers.lookups import FormLookups
from storage.db import session_scope
from storage.models import Account, Token
from tests.conftest import NOW
from tests.support.seed import account, seed, token


def test_accounts_are_reused_within_the_ttl_and_reloaded_after(sqlite_engine):
    seed(sqlite_engine, now=NOW, accounts=[account("uk", name="Alpha")],
         tokens=[token("a", NOW + timedelta(days=9), accounts=["uk"])])
    t = [0.0]
    lookups = FormLookups(sqlite_engine, ttl=5, clock=lambda: t[0])
    assert [a.name for a in lookups.accounts("a")] == ["Alpha"]
    with session_scope(sqlite_engine) as s:
        s.get(Account, "uk").name = "Renamed"
    t[0] = 4.9
    assert [a.name for a in lookups.accounts("a")] == ["Alpha"]  # cached
    t[0] = 5.1
    assert [a.name for a in lookups.accounts("a")] == ["Renamed"]  # expired: read again
    with session_scope(sqlite_engine) as s:
        s.get(Account, "uk").name = "Again"
    lookups.invalidate()
    assert [a.name for a in lookups.accounts("a")] == ["Again"]


def test_a_token_is_cached_only_when_found(sqlite_engine):
    t = [0.0]
    lookups = FormLookups(sqlite_engine, ttl=5, clock=lambda: t[0])
    assert lookups.token("late") is None
    seed(sqlite_engine, now=NOW, tokens=[token("late", NOW + timedelta(days=9), name="Late")])
    assert lookups.token("late").name == "Late"  # a miss was not remembered
    with session_scope(sqlite_engine) as s:
        s.get(Token, "late").name = "Changed"
    assert lookups.token("late").name == "Late"  # a hit is, for the TTL
    t[0] = 6
    assert lookups.token("late").name == "Changed"
