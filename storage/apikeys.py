"""Queries on the inbound API's keys. Each takes the session keyword-only; callers own the commit.

Only a key's SHA-256 is ever stored or read here; the key itself never reaches this module."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import ApiKey


def _live():
    return col(ApiKey.revoked_at).is_(None)


def insert_key(*, session: Session, name: str, key_hash: str, scopes: Sequence[str], created_at: datetime) -> ApiKey:
    row = ApiKey(name=name, key_hash=key_hash, scopes=list(scopes), created_at=created_at)
    session.add(row)
    session.flush()
    return row


def live_key_named(*, session: Session, name: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.name == name, _live())).first()


def list_keys(*, session: Session) -> list[ApiKey]:
    """Every key, revoked ones too (kept for the record), oldest first."""
    return list(session.exec(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all())


def live_keys(*, session: Session) -> list[ApiKey]:
    """Every key not revoked: what a request's key is compared against."""
    return list(session.exec(select(ApiKey).where(_live()).order_by(ApiKey.id)).all())


def revoke_named(*, session: Session, name: str, now: datetime) -> int:
    """Revokes the live key(s) of that name; returns how many."""
    stmt = update(ApiKey).where(ApiKey.name == name, _live()).values(revoked_at=now)
    return session.execute(stmt).rowcount
