"""storage.once: the first claim of a key wins, on both databases; pruned keys can be claimed again."""

from __future__ import annotations

from datetime import timedelta

from storage import once
from storage.db import session_scope
from tests.conftest import NOW


def test_the_first_claim_wins_and_pruning_forgets(engine):
    with session_scope(engine) as s:
        assert once.claim(session=s, key="slack:trigger:T1", expires_at=NOW + timedelta(minutes=5)) is True
    with session_scope(engine) as s:
        assert once.claim(session=s, key="slack:trigger:T1", expires_at=NOW + timedelta(minutes=5)) is False
        assert once.claim(session=s, key="slack:trigger:T2", expires_at=NOW + timedelta(minutes=5)) is True
    with session_scope(engine) as s:
        assert once.prune(session=s, now=NOW + timedelta(minutes=6)) == 2
    with session_scope(engine) as s:
        assert once.claim(session=s, key="slack:trigger:T1", expires_at=NOW + timedelta(minutes=11)) is True
