"""Query functions. Each takes the session keyword-only; callers own the commit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import Account, Notice, Token, TokenAccount

OPEN_STATES = ("pending", "sending", "sent")


# --- tokens and accounts ---------------------------------------------------

def get_token(*, session: Session, token_id: str) -> Token | None:
    return session.get(Token, token_id)


def find_token(*, session: Session, ref: str) -> Token | None:
    """By id, else by name, ignoring case."""
    ref = ref.strip()
    token = session.get(Token, ref)
    if token is not None:
        return token
    return session.exec(select(Token).where(func.lower(Token.name) == ref.lower())).first()


def list_tokens(*, session: Session) -> Sequence[Token]:
    return session.exec(select(Token).order_by(Token.expires_at, Token.id)).all()


def list_accounts(*, session: Session) -> Sequence[Account]:
    return session.exec(select(Account).order_by(Account.id)).all()


def token_names(*, session: Session) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in session.exec(select(Token.id, Token.name).order_by(Token.name)).all()]


def token_accounts(*, session: Session, token_id: str) -> list[Account]:
    stmt = (
        select(Account)
        .join(TokenAccount, col(TokenAccount.account_id) == col(Account.id))
        .where(TokenAccount.token_id == token_id)
        .order_by(TokenAccount.position)
    )
    return list(session.exec(stmt).all())


def accounts_by_token(*, session: Session, token_ids: Sequence[str]) -> dict[str, list[Account]]:
    out: dict[str, list[Account]] = {t: [] for t in token_ids}
    if not token_ids:
        return out
    stmt = (
        select(TokenAccount.token_id, Account)
        .join(Account, col(TokenAccount.account_id) == col(Account.id))
        .where(col(TokenAccount.token_id).in_(token_ids))
        .order_by(TokenAccount.token_id, TokenAccount.position)
    )
    for token_id, account in session.exec(stmt).all():
        out[token_id].append(account)
    return out


def account_ids_of(*, session: Session, token_id: str) -> list[str]:
    stmt = select(TokenAccount.account_id).where(TokenAccount.token_id == token_id).order_by(TokenAccount.position)
    return list(session.exec(stmt).all())


def tokens_due(*, session: Session, now: datetime, batch: int = 500) -> Iterator[Token]:
    """Tokens whose first threshold has passed, streamed: cost follows the due ones, not the table."""
    stmt = select(Token).where(Token.notify_from <= now).order_by(Token.notify_from).execution_options(yield_per=batch)
    yield from session.exec(stmt)


# --- notices ----------------------------------------------------------------

def notice_stages(*, session: Session, token_id: str, expires_at: datetime) -> set[str]:
    stmt = select(Notice.stage).where(Notice.token_id == token_id, Notice.expires_at == expires_at)
    return set(session.exec(stmt).all())


def insert_notice_if_absent(*, session: Session, token: Token, stage: str, now: datetime) -> bool:
    """Plans one notice; the unique (token, expiry, stage) key makes a second plan a no-op."""
    values = dict(
        token_id=token.id, expires_at=token.expires_at, stage=stage, state="pending",
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
               Notice.stage != keep_stage, Notice.state == "pending")
        .values(state="superseded", closed_at=now)
    )
    return session.execute(stmt).rowcount


def _claimable(now: datetime):
    return or_(
        (Notice.state == "pending") & (or_(col(Notice.next_attempt_at).is_(None), Notice.next_attempt_at <= now)),
        (Notice.state == "sending") & (Notice.claimed_until < now),  # a lease that ran out: its owner died
    )


def claim_due_notices(*, session: Session, now: datetime, lease: timedelta, limit: int = 50) -> list[tuple[int, str]]:
    """Claims notices to post, so concurrent scans and replicas never share one.

    PostgreSQL: one UPDATE over rows locked with FOR UPDATE SKIP LOCKED.
    SQLite (one writer at a time): a compare-and-set UPDATE per candidate row.
    """
    claim = dict(state="sending", claimed_until=now + lease, attempts=Notice.attempts + 1)
    if session.get_bind().dialect.name == "postgresql":
        locked = (select(Notice.id).where(_claimable(now)).order_by(Notice.id).limit(limit)
                  .with_for_update(skip_locked=True))
        rows = session.execute(
            update(Notice).where(col(Notice.id).in_(locked)).values(**claim).returning(Notice.id, Notice.channel)
        ).all()
        return sorted((r[0], r[1]) for r in rows)
    candidates = session.exec(
        select(Notice.id, Notice.channel).where(_claimable(now)).order_by(Notice.id).limit(limit)).all()
    claimed = []
    for notice_id, channel in candidates:
        result = session.execute(update(Notice).where(Notice.id == notice_id, _claimable(now)).values(**claim))
        if result.rowcount == 1:
            claimed.append((notice_id, channel))
    return claimed


def root_ts(*, session: Session, token_id: str, expires_at: datetime) -> str | None:
    """The ts of the first notice posted for this expiry: later stages thread under it."""
    stmt = (
        select(Notice.ts)
        .where(Notice.token_id == token_id, Notice.expires_at == expires_at, col(Notice.ts).is_not(None))
        .where(col(Notice.root_ts) == col(Notice.ts))
        .order_by(Notice.id)
        .limit(1)
    )
    return session.exec(stmt).first()


def finish_notice(*, session: Session, notice_id: int, **values) -> bool:
    """Records the outcome of a claimed notice, only if it is still ours to record."""
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.state == "sending").values(**values)
    )
    return result.rowcount == 1


def open_notices(*, session: Session, token_id: str) -> list[Notice]:
    stmt = select(Notice).where(Notice.token_id == token_id, col(Notice.state).in_(OPEN_STATES)).order_by(Notice.id)
    return list(session.exec(stmt).all())




def close_notices(*, session: Session, token_id: str, now: datetime, state: str = "closed",
                  expires_at: datetime | None = None) -> int:
    stmt = update(Notice).where(Notice.token_id == token_id, col(Notice.state).in_(OPEN_STATES + ("failed",)))
    if expires_at is not None:
        stmt = stmt.where(Notice.expires_at == expires_at)
    return session.execute(stmt.values(state=state, closed_at=now, claimed_until=None)).rowcount


def failed_notices(*, session: Session) -> list[Notice]:
    return list(session.exec(select(Notice).where(Notice.state == "failed").order_by(Notice.id)).all())


# --- renewals ---------------------------------------------------------------

def bump_token_version(*, session: Session, token_id: str, expected_version: int, **values) -> bool:
    """Optimistic lock: only one of two racing renewals of the same modal wins."""
    result = session.execute(
        update(Token)
        .where(Token.id == token_id, Token.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    return result.rowcount == 1
