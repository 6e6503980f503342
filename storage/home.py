"""Queries for the Home tab and `/renew-token list`, and who opened Home when.

The overview costs a fixed number of statements whatever the number of tokens: one light read of every token in
service (what deciding visibility and urgency needs), then, only for the rows that will be shown, one read of
their accounts and one of their open notices' permalinks. Callers own the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.attention import muted
from storage.models import Account, HomeView, Notice, NoticeState, Token, TokenAccount

# Bound parameters per IN (...) list: far below SQLite's and PostgreSQL's limits.
CHUNK = 500


class TokenLine(NamedTuple):
    """A token as the overview ranks and filters it: no secret, no accounts."""
    id: str
    name: str
    kind: str
    expires_at: datetime
    notify_from: datetime
    expiry_known: bool
    owners: tuple[str, ...]
    channel: str
    muted_by: str | None = None  # set only while muted (muted_expiry is the current expiry)
    mute_reason: str | None = None


class OpenNotice(NamedTuple):
    """What Home shows of a token's open notice: its link, and who acknowledged or snoozed it."""
    permalink: str | None
    acked_by: str | None
    acked_at: datetime | None
    snoozed_until: datetime | None
    snoozed_by: str | None


def token_lines(*, session: Session) -> list[TokenLine]:
    """Every token in service (retired ones never show), in one statement."""
    stmt = (select(Token.id, Token.name, Token.kind, Token.expires_at, Token.notify_from, Token.expiry_known,
                   Token.owners, Token.channel, muted().label("muted"), Token.muted_by, Token.mute_reason)
            .where(col(Token.retired).is_(False)))
    lines = []
    for r in session.exec(stmt).all():
        lines.append(TokenLine(r[0], r[1], r[2], r[3], r[4], bool(r[5]), tuple(r[6] or ()), r[7],
                               r[9] if r[8] else None, r[10] if r[8] else None))
    return lines


def _chunks(ids: Sequence[str]):
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def accounts_of(*, session: Session, token_ids: Sequence[str]) -> dict[str, list[Account]]:
    """Each token's accounts in the import file's order: one statement per CHUNK tokens."""
    out: dict[str, list[Account]] = {t: [] for t in token_ids}
    for chunk in _chunks(list(out)):
        stmt = (select(TokenAccount.token_id, Account)
                .join(Account, col(TokenAccount.account_id) == col(Account.id))
                .where(col(TokenAccount.token_id).in_(chunk))
                .order_by(TokenAccount.token_id, TokenAccount.position))
        for token_id, account in session.exec(stmt).all():
            out[token_id].append(account)
    return out


def open_notices(*, session: Session, token_ids: Sequence[str]) -> dict[str, OpenNotice]:
    """token id -> its latest open notice about its current expiry (the latest permalink among them)."""
    out: dict[str, OpenNotice] = {}
    for chunk in _chunks(list(dict.fromkeys(token_ids))):
        stmt = (select(Notice.token_id, Notice.permalink, Notice.acked_by, Notice.acked_at, Notice.snoozed_until,
                       Notice.snoozed_by)
                .join(Token, col(Token.id) == col(Notice.token_id))
                .where(col(Notice.token_id).in_(chunk), col(Notice.state).in_(NoticeState.open()),
                       col(Notice.expires_at) == col(Token.expires_at))
                .order_by(Notice.id))
        for token_id, permalink, *attention in session.exec(stmt).all():
            earlier = out.get(token_id)  # ordered by id: the latest one wins, keeping a link an earlier one had
            out[token_id] = OpenNotice(permalink or (earlier.permalink if earlier else None), *attention)
    return out


def set_permalink(*, session: Session, notice_id: int, permalink: str) -> bool:
    stmt = update(Notice).where(col(Notice.id) == notice_id).values(permalink=permalink)
    return session.execute(stmt).rowcount == 1


class Unlinked(NamedTuple):
    notice_id: int
    channel: str
    ts: str


def unlinked_notices(*, session: Session, limit: int) -> list[Unlinked]:
    """Open notices posted (ts set) but without a stored permalink, at most `limit`, in random order: one Slack
    keeps refusing a link for (a deleted message) must not hold back the others pass after pass."""
    stmt = (select(Notice.id, Notice.channel, Notice.ts)
            .where(col(Notice.state).in_(NoticeState.open()), col(Notice.ts).is_not(None),
                   col(Notice.permalink).is_(None))
            .order_by(func.random()).limit(limit))
    return [Unlinked(*r) for r in session.exec(stmt).all()]


def record_opened(*, session: Session, user_id: str, at: datetime) -> None:
    """Upsert: one row per person, holding the last time they opened Home."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(HomeView).values(user_id=user_id, opened_at=at)
    session.execute(stmt.on_conflict_do_update(index_elements=["user_id"],
                                               set_={"opened_at": stmt.excluded.opened_at}))


def recent_openers(*, session: Session, since: datetime, limit: int) -> list[str]:
    """Who opened Home at or after `since`, most recent first, at most `limit` of them."""
    stmt = (select(HomeView.user_id).where(col(HomeView.opened_at) >= since)
            .order_by(col(HomeView.opened_at).desc()).limit(limit))
    return list(session.exec(stmt).all())
