"""The outbox: one Notice row per token, expiry and threshold, planned before it is posted.

Each function takes the session keyword-only; callers own the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import Notice, NoticeState, Token


def notice_stages(*, session: Session, token_id: str, expires_at: datetime) -> set[str]:
    stmt = select(Notice.stage).where(Notice.token_id == token_id, Notice.expires_at == expires_at)
    return set(session.exec(stmt).all())


def insert_notice_if_absent(*, session: Session, token: Token, stage: str, now: datetime) -> bool:
    """Plans one notice; the unique (token, expiry, stage) key makes a second plan a no-op."""
    values = dict(
        token_id=token.id, expires_at=token.expires_at, stage=stage, state=NoticeState.PENDING,
        channel=token.channel, attempts=0, created_at=now,
    )
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Notice).values(**values).on_conflict_do_nothing(
        index_elements=["token_id", "expires_at", "stage"]
    ).returning(Notice.id)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT through the ORM.
    return session.execute(stmt).first() is not None


def supersede_pending(*, session: Session, token_id: str, expires_at: datetime, keep_stage: str, now: datetime) -> int:
    """A nearer stage replaces notices not yet posted: one message, not a burst."""
    stmt = (
        update(Notice)
        .where(Notice.token_id == token_id, Notice.expires_at == expires_at,
               Notice.stage != keep_stage, Notice.state == NoticeState.PENDING)
        .values(state=NoticeState.SUPERSEDED, closed_at=now)
    )
    return session.execute(stmt).rowcount


def _claimable(now: datetime):
    return or_(
        (Notice.state == NoticeState.PENDING)
        & (or_(col(Notice.next_attempt_at).is_(None), Notice.next_attempt_at <= now)),
        (Notice.state == NoticeState.SENDING) & (Notice.claimed_until < now),  # a lease that ran out: its owner died
    )


def claimable_channels(*, session: Session, now: datetime) -> list[str]:
    """Channels with a notice to claim now, the one waiting longest first.

    Reads only claimable rows: ix_notice_state_next (state, next_attempt_at) finds them.
    """
    stmt = (select(Notice.channel).where(_claimable(now)).group_by(Notice.channel)
            .order_by(func.min(Notice.id)))
    return list(session.exec(stmt).all())


def claim_due_notices(*, session: Session, now: datetime, lease: timedelta, limit: int = 50,
                      channel: str | None = None) -> list[tuple[int, str]]:
    """Claims notices to post (only `channel`'s, if given), so concurrent scans and replicas never share one.

    PostgreSQL: one UPDATE over rows locked with FOR UPDATE SKIP LOCKED.
    SQLite (one writer at a time): a compare-and-set UPDATE per candidate row.
    The claimable rows come from ix_notice_state_next; the channel is a filter on those few.
    """
    claim = dict(state=NoticeState.SENDING, claimed_until=now + lease, attempts=Notice.attempts + 1)
    due = _claimable(now) if channel is None else (_claimable(now) & (Notice.channel == channel))
    if session.get_bind().dialect.name == "postgresql":
        locked = (select(Notice.id).where(due).order_by(Notice.id).limit(limit)
                  .with_for_update(skip_locked=True))
        rows = session.execute(
            update(Notice).where(col(Notice.id).in_(locked)).values(**claim).returning(Notice.id, Notice.channel)
        ).all()
        return sorted((r[0], r[1]) for r in rows)
    while True:
        candidates = session.exec(select(Notice.id, Notice.channel).where(due).order_by(Notice.id).limit(limit)).all()
        claimed = []
        for notice_id, notice_channel in candidates:
            result = session.execute(update(Notice).where(Notice.id == notice_id, _claimable(now)).values(**claim))
            if result.rowcount == 1:
                claimed.append((notice_id, notice_channel))
        # Every candidate went to another claimer between the read and the write: look again (now holding
        # the write lock, so the second read is current) rather than report nothing left.
        if claimed or not candidates:
            return claimed


def root_ts(*, session: Session, token_id: str, expires_at: datetime, channel: str | None = None) -> str | None:
    """The ts of the first notice posted for this expiry (in `channel`, if given): later stages thread under it.

    A notice moved to another channel (the token's channel was fixed) starts a thread there: a ts names a
    message only in its own channel."""
    stmt = (
        select(Notice.ts)
        .where(Notice.token_id == token_id, Notice.expires_at == expires_at, col(Notice.ts).is_not(None))
        .where(col(Notice.root_ts) == col(Notice.ts))
        .order_by(Notice.id)
        .limit(1)
    )
    if channel is not None:
        stmt = stmt.where(Notice.channel == channel)
    return session.exec(stmt).first()


def close_notices(*, session: Session, token_id: str, now: datetime, state: NoticeState = NoticeState.CLOSED,
                  expires_at: datetime | None = None) -> int:
    closable = (*NoticeState.open(), NoticeState.FAILED)
    stmt = update(Notice).where(Notice.token_id == token_id, col(Notice.state).in_(closable))
    if expires_at is not None:
        stmt = stmt.where(Notice.expires_at == expires_at)
    return session.execute(stmt.values(state=state, closed_at=now, claimed_until=None)).rowcount


# --- the outcome of a claimed notice ----------------------------------------
# Each writes only while the notice is still ours (state "sending"): a claim whose lease ran out
# may have been taken over, renewed or superseded since, and that later word stands.

def _finish_claimed(*, session: Session, notice_id: int, **values) -> bool:
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.state == NoticeState.SENDING).values(**values)
    )
    return result.rowcount == 1


def record_sent(*, session: Session, notice_id: int, ts: str, root_ts: str, sent_at: datetime) -> bool:
    """Posted (or found already posted) as `ts`, in the thread of `root_ts`."""
    return _finish_claimed(session=session, notice_id=notice_id, state=NoticeState.SENT, ts=ts, root_ts=root_ts,
                           sent_at=sent_at, claimed_until=None, last_error=None)


def record_failed(*, session: Session, notice_id: int, error: str) -> bool:
    """Refused for good: a person has to fix the channel or the token. Shown in status."""
    return _finish_claimed(session=session, notice_id=notice_id, state=NoticeState.FAILED, last_error=error,
                           claimed_until=None)


def reschedule(*, session: Session, notice_id: int, next_attempt_at: datetime, error: str) -> bool:
    """Back to pending, to be claimed again from `next_attempt_at`: a failed post is retried, never dropped."""
    return _finish_claimed(session=session, notice_id=notice_id, state=NoticeState.PENDING,
                           next_attempt_at=next_attempt_at, claimed_until=None, last_error=error)


def supersede(*, session: Session, notice_id: int, closed_at: datetime) -> bool:
    """Not to be posted: its token's expiry changed (or the token went) after it was planned."""
    return _finish_claimed(session=session, notice_id=notice_id, state=NoticeState.SUPERSEDED, closed_at=closed_at)


def release(*, session: Session, notice_id: int, next_attempt_at: datetime) -> bool:
    """Claimed but never tried (its channel is rate-limited for longer than a lease should wait): back to
    pending from `next_attempt_at`, with the claim's attempt given back, since nothing can have reached Slack."""
    return _finish_claimed(session=session, notice_id=notice_id, state=NoticeState.PENDING,
                           next_attempt_at=next_attempt_at, claimed_until=None, attempts=Notice.attempts - 1)


# --- a failure a person fixed ------------------------------------------------

def retry_failed(*, session: Session, notice_id: int, channel: str) -> bool:
    """Failed back to pending, due now and in `channel` (the token's current one), its attempts counted afresh."""
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.state == NoticeState.FAILED)
        .values(state=NoticeState.PENDING, channel=channel, attempts=0, next_attempt_at=None, claimed_until=None)
    )
    return result.rowcount == 1


def supersede_failed(*, session: Session, notice_id: int, closed_at: datetime) -> bool:
    """A failed notice a nearer stage has replaced: not worth posting any more."""
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.state == NoticeState.FAILED)
        .values(state=NoticeState.SUPERSEDED, closed_at=closed_at)
    )
    return result.rowcount == 1


# --- reads ------------------------------------------------------------------

def open_notices(*, session: Session, token_id: str) -> list[Notice]:
    """The token's notices still open (any expiry), oldest first."""
    return open_notices_by_token(session=session, token_ids=[token_id])[token_id]


def open_notices_by_token(*, session: Session, token_ids: Sequence[str]) -> dict[str, list[Notice]]:
    """open_notices for many tokens in one query: every id in `token_ids` is a key, oldest notice first."""
    out: dict[str, list[Notice]] = {t: [] for t in token_ids}
    if not token_ids:
        return out
    stmt = (select(Notice).where(col(Notice.token_id).in_(token_ids), col(Notice.state).in_(NoticeState.open()))
            .order_by(Notice.id))
    for notice in session.exec(stmt).all():
        out[notice.token_id].append(notice)
    return out


def failed_notices(*, session: Session) -> list[Notice]:
    return list(session.exec(select(Notice).where(Notice.state == NoticeState.FAILED).order_by(Notice.id)).all())


def retryable_failures(*, session: Session, channel: str | None = None) -> list[tuple[Notice, Token]]:
    """Failed notices about their token's current expiry, the token in service (and, if given, set to
    `channel` now), each with its token; oldest first."""
    stmt = (select(Notice, Token).join(Token, Token.id == Notice.token_id)
            .where(Notice.state == NoticeState.FAILED, Notice.expires_at == Token.expires_at,
                   col(Token.retired).is_(False))
            .order_by(Notice.id))
    if channel is not None:
        stmt = stmt.where(Token.channel == channel)
    return [(notice, token) for notice, token in session.exec(stmt).all()]


def newest_notice_id(*, session: Session, token_id: str, expires_at: datetime) -> int | None:
    """The id of the token's latest notice for this expiry that was not replaced (any other state)."""
    stmt = select(func.max(Notice.id)).where(Notice.token_id == token_id, Notice.expires_at == expires_at,
                                             Notice.state != NoticeState.SUPERSEDED)
    return session.exec(stmt).first()
