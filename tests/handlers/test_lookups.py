"""The form's short-lived cache: stale for at most its TTL, emptied by a renewal."""

from __future__ import annotations

from datetime import timedelta

from handlers.lookups import FormLookups
from storage.db import session_scope
from storage.models import Token
from tests.conftest import NOW
from tests.support.seed import seed, token


def test_lists_are_reused_within_the_ttl_and_reloaded_after(sqlite_engine):
    seed(sqlite_engine, now=NOW, tokens=[token("a", NOW + timedelta(days=9), name="Alpha")])
    t = [0.0]
    lookups = FormLookups(sqlite_engine, ttl=5, clock=lambda: t[0])
    assert lookups.choices() == [("a", "Alpha")]
    with session_scope(sqlite_engine) as s:
        s.get(Token, "a").name = "Renamed"
    t[0] = 4.9
    assert lookups.choices() == [("a", "Alpha")]  # cached
    t[0] = 5.1
    assert lookups.choices() == [("a", "Renamed")]  # expired: read again
    with session_scope(sqlite_engine) as s:
        s.get(Token, "a").name = "Again"
    lookups.invalidate()
    assert lookups.choices() == [("a", "Again")]


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
