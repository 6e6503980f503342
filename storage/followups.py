"""Reads for follow-ups and digests: which tokens may need one, and what their notices say.

Each function takes the session keyword-only; callers own the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from renewbot.domain.attention import ESCALATE_WITHIN_DAYS
from renewbot.domain.thresholds import EXPIRED
from storage.attention import not_muted
from storage.models import Followup, Notice, NoticeState, Token


def _in_service():
    return and_(col(Token.retired).is_(False), col(Token.expiry_known).is_(True), not_muted())


def _current(notice=Notice):
    return and_(notice.token_id == Token.id, notice.expires_at == Token.expires_at)


def posted_notices(*, session: Session, now: datetime,
                   token_ids: Sequence[str] | None = None) -> list[tuple[Token, list[Notice]]]:
    """Tokens in service, not muted, within ESCALATE_WITHIN_DAYS of their expiry or past it, each with its
    notices posted for that expiry (oldest first); a token with none posted is left out. Expired tokens stay
    here until renewed: reminders go on, weekly, for as long as that lasts."""
    stmt = (select(Token, Notice).join(Notice, _current())
            .where(_in_service(), Token.expires_at <= now + timedelta(days=ESCALATE_WITHIN_DAYS),
                   Notice.state == NoticeState.SENT, col(Notice.ts).is_not(None))
            .order_by(Token.id, Notice.id))
    if token_ids is not None:
        stmt = stmt.where(col(Token.id).in_(list(token_ids)))
    out: dict[str, tuple[Token, list[Notice]]] = {}
    for token, notice in session.exec(stmt).all():
        out.setdefault(token.id, (token, []))[1].append(notice)
    return list(out.values())


def unposted_expired(*, session: Session) -> int:
    """Tokens in service whose expired notice Slack refused (failed): they get no reminders until it is
    posted (`renewbot retry-failed`), since reminders answer in its thread."""
    stmt = (select(func.count()).select_from(Notice).join(Token, _current())
            .where(_in_service(), Notice.stage == EXPIRED, Notice.state == NoticeState.FAILED))
    return session.exec(stmt).one()


def planned_keys(*, session: Session, token_ids: Sequence[str]) -> set[tuple[str, datetime, str, str]]:
    """(token, expiry, kind, key) of every follow-up already planned for these tokens."""
    if not token_ids:
        return set()
    stmt = select(Followup.token_id, Followup.expires_at, Followup.kind, Followup.key).where(
        col(Followup.token_id).in_(list(token_ids)))
    return {tuple(row) for row in session.exec(stmt).all()}


def notices_for(*, session: Session, token_id: str, expires_at: datetime) -> list[Notice]:
    """The token's notices for this expiry (any state), oldest first: a follow-up re-checks them at send time."""
    stmt = (select(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at)
            .order_by(Notice.id).execution_options(populate_existing=True))
    return list(session.exec(stmt).all())


# --- the weekly digest --------------------------------------------------------


def digest_channels(*, session: Session) -> list[str]:
    """Every channel a token in service notifies."""
    stmt = select(Token.channel).where(col(Token.retired).is_(False)).group_by(Token.channel).order_by(Token.channel)
    return list(session.exec(stmt).all())


def digest_tokens(*, session: Session, channel: str, until: datetime) -> list[tuple[Token, str | None]]:
    """The channel's tokens in service, not muted, expired or expiring by `until`, soonest first, each with the
    link to its latest notice posted for the current expiry (None when none was posted or linked)."""
    tokens = list(session.exec(select(Token).where(_in_service(), Token.channel == channel, Token.expires_at <= until)
                               .order_by(Token.expires_at, Token.id)).all())
    if not tokens:
        return []
    stmt = (select(Notice.token_id, Notice.permalink).join(Token, _current())
            .where(col(Notice.token_id).in_([t.id for t in tokens]), col(Notice.permalink).is_not(None),
                   col(Notice.state).in_(NoticeState.open()))
            .order_by(Notice.id))
    links = dict(session.exec(stmt).all())  # the latest notice wins: rows come oldest first
    return [(token, links.get(token.id)) for token in tokens]
