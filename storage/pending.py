"""Pending renewals (PendingRenewal): a renewal waiting for its secret from outside Slack. Callers own commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from storage.models import PendingRenewal


def add(*, session: Session, row: PendingRenewal) -> PendingRenewal:
    session.add(row)
    session.flush()
    return row


def by_key_hash(*, session: Session, key_hash: str) -> PendingRenewal | None:
    return session.exec(select(PendingRenewal).where(PendingRenewal.key_hash == key_hash)).first()


def mark_used(*, session: Session, row_id: int, now: datetime) -> bool:
    """Marks the row used unless it already was; False when another request got there first (a conditional
    UPDATE, so two replicas completing the same link at once cannot both win)."""
    result = session.execute(update(PendingRenewal)
                             .where(col(PendingRenewal.id) == row_id, col(PendingRenewal.used_at).is_(None))
                             .values(used_at=now))
    return result.rowcount == 1


def claim(*, session: Session, row_id: int, now: datetime, until: datetime) -> bool:
    """Claims an unused row until `until` unless someone else holds an unexpired claim; False then (a
    conditional UPDATE: of two replicas claiming at once, one wins)."""
    result = session.execute(update(PendingRenewal)
                             .where(col(PendingRenewal.id) == row_id, col(PendingRenewal.used_at).is_(None),
                                    or_(col(PendingRenewal.claimed_until).is_(None),
                                        col(PendingRenewal.claimed_until) < now))
                             .values(claimed_until=until))
    return result.rowcount == 1


def release(*, session: Session, row_id: int) -> None:
    session.execute(update(PendingRenewal).where(col(PendingRenewal.id) == row_id).values(claimed_until=None))


def prune(*, session: Session, before: datetime) -> int:
    """Forgets rows expired before `before` (used or not); returns how many."""
    return session.execute(delete(PendingRenewal).where(col(PendingRenewal.expires_at) < before)).rowcount
