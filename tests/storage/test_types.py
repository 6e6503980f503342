"""Datetimes are timezone-aware on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from storage.db import session_scope
from storage.models import Token

PARIS = timezone(timedelta(hours=1))


def make_token(expires_at: datetime) -> Token:
    return Token(id="t", kind="generic", name="T", expires_at=expires_at, notify_from=expires_at, channel="C1")


def test_datetimes_come_back_aware_and_in_utc(engine):
    with session_scope(engine) as s:
        s.add(make_token(datetime(2027, 1, 1, 9, 30, tzinfo=PARIS)))
    with session_scope(engine) as s:
        got = s.get(Token, "t").expires_at
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == datetime(2027, 1, 1, 8, 30, tzinfo=UTC)


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as s:
        s.add(make_token(datetime(2027, 1, 1)))
