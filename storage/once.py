"""At most once, across replicas: the first to claim a key wins; callers own the commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import Once


def claim(*, session: Session, key: str, expires_at: datetime) -> bool:
    """True for the first claim of `key`; False when it was claimed before (and not yet pruned)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Once).values(key=key, expires_at=expires_at).on_conflict_do_nothing(
        index_elements=["key"]).returning(Once.key)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT.
    return session.execute(stmt).first() is not None


def prune(*, session: Session, now: datetime) -> int:
    """Forgets claims whose time has passed; returns how many."""
    return session.execute(delete(Once).where(Once.expires_at < now)).rowcount
