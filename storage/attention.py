"""Attention on notices and tokens: acknowledge, snooze, mute, and their audit (TokenEvent).

Each function takes the session keyword-only; callers own the commit.

A token is muted while `muted_expiry` equals its `expires_at`: a renewal or an import that moves the expiry
ends the mute without anyone writing to it. That rule is written here only: `is_muted` for a loaded token,
`muted()` (and `not_muted()`) for SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, not_, update
from sqlmodel import Session, col, select

from storage.models import Notice, NoticeState, Token, TokenEvent

ACKNOWLEDGED, SNOOZED, MUTED, UNMUTED = "acknowledged", "snoozed", "muted", "unmuted"


def is_muted(token: Token) -> bool:
    return token.muted_expiry is not None and token.muted_expiry == token.expires_at


def muted():
    """The SQL form of `is_muted(token)`, to filter on or to select as a column."""
    return and_(col(Token.muted_expiry).is_not(None), col(Token.muted_expiry) == col(Token.expires_at))


def not_muted():
    """A filter on rows an index already found, never a scan of its own."""
    return not_(muted())


def find_notice(*, session: Session, token_id: str, expires_at: datetime, stage: str) -> Notice | None:
    """By its unique key (token, expiry, stage): one seek, whatever the table's size."""
    stmt = select(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at, Notice.stage == stage)
    return session.exec(stmt).first()


def posted_notices(*, session: Session, token_id: str, expires_at: datetime) -> list[Notice]:
    """The token's notices for this expiry that are (or were) messages in Slack and still open, oldest first."""
    stmt = (select(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at,
                                 col(Notice.ts).is_not(None), col(Notice.state).in_(NoticeState.open()))
            .order_by(Notice.id))
    return list(session.exec(stmt).all())


def acknowledge(*, session: Session, notice_id: int, by: str, at: datetime) -> bool:
    """The first acknowledgement stands: a second click (a race between two people) changes nothing."""
    result = session.execute(update(Notice).where(Notice.id == notice_id, col(Notice.acked_at).is_(None))
                             .values(acked_by=by, acked_at=at))
    return result.rowcount == 1


def snooze(*, session: Session, notice_id: int, by: str, until: datetime) -> None:
    session.execute(update(Notice).where(Notice.id == notice_id).values(snoozed_until=until, snoozed_by=by))


def mute(*, session: Session, token_id: str, expires_at: datetime, by: str, at: datetime, reason: str) -> bool:
    """Mutes the token for this expiry only, if it is not muted already (compare-and-set on both: an expiry moved
    meanwhile is not muted, and a second mute never overwrites who muted it). Returns whether it was written."""
    result = session.execute(update(Token).where(Token.id == token_id, Token.expires_at == expires_at, not_muted())
                             .values(muted_expiry=expires_at, muted_by=by, muted_at=at, mute_reason=reason))
    return result.rowcount == 1


def unmute(*, session: Session, token_id: str) -> bool:
    """Only while muted (compare-and-set): of two unmutes at once, one is written. Returns whether it was."""
    result = session.execute(update(Token).where(Token.id == token_id, muted())
                             .values(muted_expiry=None, muted_by=None, muted_at=None, mute_reason=None))
    return result.rowcount == 1


def supersede_unposted(*, session: Session, token_id: str, expires_at: datetime, now: datetime) -> list[str]:
    """Notices planned but not posted yet are not posted while muted; returns their stages (unmute revives the
    current one). A notice already claimed by a delivery in flight may still be posted: its lease decides."""
    stmt = (update(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at,
                                 Notice.state == NoticeState.PENDING)
            .values(state=NoticeState.SUPERSEDED, closed_at=now).returning(Notice.stage))
    return [row[0] for row in session.execute(stmt)]


def revive(*, session: Session, token_id: str, expires_at: datetime, stage: str) -> bool:
    """A notice of the current stage that a mute kept from being posted goes back to pending, due now: planning
    would not plan it again (its unique key exists). Never one that was posted."""
    result = session.execute(
        update(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at, Notice.stage == stage,
                             Notice.state == NoticeState.SUPERSEDED, col(Notice.ts).is_(None))
        .values(state=NoticeState.PENDING, closed_at=None, attempts=0, next_attempt_at=None, claimed_until=None,
                last_error=None))
    return result.rowcount == 1


def record_event(*, session: Session, token_id: str, action: str, by: str, at: datetime, expires_at: datetime,
                 stage: str | None = None, detail: str | None = None) -> None:
    session.add(TokenEvent(token_id=token_id, action=action, by=by, at=at, expires_at=expires_at, stage=stage,
                           detail=None if detail is None else detail[:300]))


def events(*, session: Session, token_id: str | None = None) -> Sequence[TokenEvent]:
    """The attention audit, oldest first (one token's through ix_tokenevent_token_id)."""
    stmt = select(TokenEvent).order_by(TokenEvent.at, TokenEvent.id)
    return session.exec(stmt if token_id is None else stmt.where(TokenEvent.token_id == token_id)).all()
