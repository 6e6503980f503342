"""A leased outbox, generic over its table: follow-ups and digests (storage/notices.py and storage/deliveries.py
do the same for their own tables and could move onto this).

A row is planned under its unique key (a second plan is a no-op), claimed with a lease (PostgreSQL
FOR UPDATE SKIP LOCKED, SQLite a compare-and-set per row), and its outcome written only while it is still ours:
"sending" with the lease end this claim wrote (`fence`). A claim whose lease ran out may have been taken over
since, with a new lease end, and that later claimer's word stands.
The table needs: id, state, attempts, next_attempt_at, claimed_until, last_error, ts, sent_at.
Each function takes the session keyword-only; callers own the commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import NoticeState

SKIPPED = "skipped"  # nothing to say when its turn came: done, never posted


def insert_if_absent(model, *, session: Session, key: Sequence[str], values: dict) -> int | None:
    """Plans one row; the unique `key` columns make a second plan a no-op. The new row's id, or None."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(key)).returning(model.id)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT through the ORM.
    row = session.execute(stmt).first()
    return None if row is None else row[0]


def _claimable(model, now: datetime):
    return or_(
        (model.state == NoticeState.PENDING)
        & (or_(col(model.next_attempt_at).is_(None), model.next_attempt_at <= now)),
        (model.state == NoticeState.SENDING) & (model.claimed_until < now),  # a lease that ran out: its owner died
    )


def claim_due(model, *, session: Session, now: datetime, lease: timedelta, limit: int = 20,
              exclude: Collection[int] = (), where=None) -> list[int]:
    """Claims rows to send (their ids, oldest first), so concurrent passes and replicas never share one; none of
    `exclude` (those this pass already tried); only those matching `where` (a SQL condition), if given.
    `now + lease` is the claim's fence: pass it to the outcome functions."""
    claim = dict(state=NoticeState.SENDING, claimed_until=now + lease, attempts=model.attempts + 1)
    due = _claimable(model, now)
    if where is not None:
        due = due & where
    if exclude:
        due = due & col(model.id).not_in(list(exclude))
    if session.get_bind().dialect.name == "postgresql":
        locked = select(model.id).where(due).order_by(model.id).limit(limit).with_for_update(skip_locked=True)
        rows = session.execute(update(model).where(col(model.id).in_(locked)).values(**claim)
                               .returning(model.id)).all()
        return sorted(r[0] for r in rows)
    while True:
        candidates = session.exec(select(model.id).where(due).order_by(model.id).limit(limit)).all()
        claimed = [row_id for row_id in candidates
                   if session.execute(update(model).where(model.id == row_id, due).values(**claim)).rowcount == 1]
        # Every candidate went to another claimer between the read and the write: look again (now holding
        # the write lock, so the second read is current) rather than report nothing left.
        if claimed or not candidates:
            return claimed


def _finish_claimed(model, *, session: Session, row_id: int, fence: datetime, **values) -> bool:
    # The stored lease end names the claimer: one that took the row over wrote a later one.
    result = session.execute(update(model).where(model.id == row_id, model.state == NoticeState.SENDING,
                                                 model.claimed_until == fence).values(**values))
    return result.rowcount == 1


def record_sent(model, *, session: Session, row_id: int, fence: datetime, ts: str, sent_at: datetime) -> bool:
    """Posted (or found already posted) as `ts`."""
    return _finish_claimed(model, session=session, row_id=row_id, fence=fence, state=NoticeState.SENT, ts=ts,
                           sent_at=sent_at, claimed_until=None, last_error=None)


def record_failed(model, *, session: Session, row_id: int, fence: datetime, error: str) -> bool:
    """Refused for good (channel_not_found, ...): never tried again."""
    return _finish_claimed(model, session=session, row_id=row_id, fence=fence, state=NoticeState.FAILED,
                           last_error=error, claimed_until=None)


def close(model, *, session: Session, row_id: int, fence: datetime, state: str = NoticeState.CLOSED,
          reason: str | None = None) -> bool:
    """Not to be posted (renewed, muted, acknowledged meanwhile; or `SKIPPED`: nothing to say)."""
    return _finish_claimed(model, session=session, row_id=row_id, fence=fence, state=state, claimed_until=None,
                           last_error=reason)


def reschedule(model, *, session: Session, row_id: int, fence: datetime, next_attempt_at: datetime,
               error: str) -> bool:
    """Back to pending, to be claimed again from `next_attempt_at`: a failed post is retried, never dropped."""
    return _finish_claimed(model, session=session, row_id=row_id, fence=fence, state=NoticeState.PENDING,
                           next_attempt_at=next_attempt_at, claimed_until=None, last_error=error)


def release(model, *, session: Session, row_id: int, fence: datetime, next_attempt_at: datetime) -> bool:
    """Claimed but never tried (Slack refused the bot token, the channel is held back, a snooze runs): pending
    again from `next_attempt_at`, the claim's attempt given back since nothing can have reached Slack."""
    return _finish_claimed(model, session=session, row_id=row_id, fence=fence, state=NoticeState.PENDING,
                           next_attempt_at=next_attempt_at, claimed_until=None, attempts=model.attempts - 1)
