"""Reads for follow-ups and digests: which tokens may need one, and what their notices say.

Each function takes the session keyword-only; callers own the commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from renewbot.domain.attention import REMINDER
from renewbot.domain.thresholds import EXPIRED
from storage.attention import not_muted
from storage.models import Followup, Notice, NoticeState, Once, Token
from storage.queries import CHUNK

INSERT_ROWS = 500  # rows an insert statement plans: 11 parameters each, well under SQLite's 32,766


def _chunks(items: Sequence, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_service():
    return and_(col(Token.retired).is_(False), col(Token.expiry_known).is_(True), not_muted())


def _current(notice=Notice):
    return and_(notice.token_id == Token.id, notice.expires_at == Token.expires_at)


def followup_candidates(*, session: Session, since: datetime | None, until: datetime,
                        after: tuple[datetime, str] | None, limit: int) -> list[Token]:
    """The next `limit` tokens in service expiring between `since` (None: any time before) and `until`, by
    (expires_at, id) after `after`: a keyset page over ix_token_expires_at, so a pass reads the range in bounded
    steps and a narrow range costs what it holds, however many tokens expired long ago."""
    stmt = select(Token).where(_in_service(), Token.expires_at <= until).order_by(Token.expires_at, Token.id)
    if since is not None:
        stmt = stmt.where(Token.expires_at >= since)
    if after is not None:
        stmt = stmt.where(tuple_(Token.expires_at, Token.id) > tuple_(*after))
    return list(session.exec(stmt.limit(limit)).all())


def pass_done(*, session: Session, key: str) -> bool:
    """Whether the `Once` mark `key` was written (storage/once.py claims it)."""
    return session.exec(select(Once.key).where(Once.key == key)).first() is not None


def posted_for(*, session: Session, tokens: Sequence[Token]) -> dict[str, list[Notice]]:
    """Each token's notices posted for its current expiry, oldest first; a token with none is left out."""
    out: dict[str, list[Notice]] = {}
    for chunk in _chunks([t.id for t in tokens]):
        stmt = (select(Notice).join(Token, _current())
                .where(col(Notice.token_id).in_(chunk), Notice.state == NoticeState.SENT,
                       col(Notice.ts).is_not(None))
                .order_by(Notice.token_id, Notice.id))
        for notice in session.exec(stmt).all():
            out.setdefault(notice.token_id, []).append(notice)
    return out


def unposted_expired(*, session: Session) -> int:
    """Tokens in service whose expired notice Slack refused (failed): they get no reminders until it is
    posted (`renewbot retry-failed`), since reminders answer in its thread."""
    stmt = (select(func.count()).select_from(Notice).join(Token, _current())
            .where(_in_service(), Notice.stage == EXPIRED, Notice.state == NoticeState.FAILED))
    return session.exec(stmt).one()


def planned_keys(*, session: Session, token_ids: Sequence[str],
                 reminder_keys: Collection[str]) -> set[tuple[str, datetime, str, str]]:
    """(token, expiry, kind, key) of the follow-ups already planned for these tokens' current expiries that could
    be due now: escalations and expiry ones (a few per expiry), and reminders only under `reminder_keys` (the
    days of the reminders due now), so years of weekly reminders are never read back."""
    out: set[tuple[str, datetime, str, str]] = set()
    for chunk in _chunks(list(token_ids)):
        stmt = (select(Followup.token_id, Followup.expires_at, Followup.kind, Followup.key)
                .join(Token, and_(Token.id == Followup.token_id, Token.expires_at == Followup.expires_at))
                .where(col(Followup.token_id).in_(chunk),
                       or_(Followup.kind != REMINDER, col(Followup.key).in_(sorted(reminder_keys)))))
        out.update(tuple(row) for row in session.exec(stmt).all())
    return out


def insert_planned(*, session: Session, rows: Sequence[dict]) -> list[str]:
    """Plans follow-up rows in a few statements (one per row costs the first pass most of its time); a row
    whose (token, expiry, kind, key) is already there is skipped, by the database. The kinds of those new."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = Followup.__table__
    stmt = insert(table).on_conflict_do_nothing(
        index_elements=["token_id", "expires_at", "kind", "key"]).returning(table.c.kind)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT.
    connection = session.connection()
    return [kind for chunk in _chunks(rows, INSERT_ROWS) for kind in connection.execute(stmt, chunk).scalars()]


def notices_for(*, session: Session, token_id: str, expires_at: datetime) -> list[Notice]:
    """The token's notices for this expiry (any state), oldest first: a follow-up re-checks them at send time."""
    stmt = (select(Notice).where(Notice.token_id == token_id, Notice.expires_at == expires_at)
            .order_by(Notice.id).execution_options(populate_existing=True))
    return list(session.exec(stmt).all())


# --- the weekly digest --------------------------------------------------------


def digest_channels(*, session: Session, until: datetime) -> list[str]:
    """The channels with something for a digest: a token in service, not muted, expired or expiring by `until`
    (read through ix_token_expires_at, not by grouping the whole table)."""
    stmt = (select(Token.channel).where(_in_service(), Token.expires_at <= until)
            .group_by(Token.channel).order_by(Token.channel))
    return list(session.exec(stmt).all())


def digest_counts(*, session: Session, channel: str, now: datetime, until: datetime) -> tuple[int, int]:
    """(expired, expiring by `until`) among the channel's tokens in service, not muted."""
    stmt = select(func.count(case((Token.expires_at <= now, 1))), func.count(case((Token.expires_at > now, 1)))).where(
        _in_service(), Token.channel == channel, Token.expires_at <= until)
    expired, soon = session.exec(stmt).one()
    return expired, soon


def digest_tokens(*, session: Session, channel: str, until: datetime,
                  limit: int) -> list[tuple[Token, str | None]]:
    """The channel's first `limit` tokens in service, not muted, expired or expiring by `until`, soonest first
    (ix_token_channel_expires_at), each with the link to its latest notice posted for the current expiry (None
    when none was posted or linked)."""
    tokens = list(session.exec(select(Token).where(_in_service(), Token.channel == channel, Token.expires_at <= until)
                               .order_by(Token.expires_at, Token.id).limit(limit)).all())
    if not tokens:
        return []
    stmt = (select(Notice.token_id, Notice.permalink).join(Token, _current())
            .where(col(Notice.token_id).in_([t.id for t in tokens]), col(Notice.permalink).is_not(None),
                   col(Notice.state).in_(NoticeState.open()))
            .order_by(Notice.id))
    links = dict(session.exec(stmt).all())  # the latest notice wins: rows come oldest first
    return [(token, links.get(token.id)) for token in tokens]
