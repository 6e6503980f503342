"""Queries on tokens, accounts and renewals. Each takes the session keyword-only; callers own the commit.

Notices (the outbox) are in storage/notices.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from storage.models import Account, Kind, Token, TokenAccount


class Saved(Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Save:
    """What saving one row did: created, updated (with each field's old and new value) or unchanged."""
    outcome: Saved
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _assign(row: Any, values: dict) -> dict[str, tuple[Any, Any]]:
    """Sets only what differs, so an unchanged row is not written; returns {field: (old, new)}."""
    changes = {}
    for key, value in values.items():
        old = getattr(row, key)
        if old != value:
            setattr(row, key, value)
            changes[key] = (old, value)
    return changes


def _saved(changes: dict) -> Save:
    return Save(Saved.UPDATED if changes else Saved.UNCHANGED, changes)


# --- tokens and accounts ---------------------------------------------------

def _active(table):
    """Not retired: retired rows get no notices and leave the lists, but stay for their history."""
    return col(table.retired).is_(False)


def get_token(*, session: Session, token_id: str) -> Token | None:
    return session.get(Token, token_id)


def find_token(*, session: Session, ref: str) -> Token | None:
    """By id, else by name, ignoring case."""
    ref = ref.strip()
    token = session.get(Token, ref)
    if token is not None and not token.retired:
        return token
    return session.exec(select(Token).where(func.lower(Token.name) == ref.lower(), _active(Token))).first()


def token_owners(*, session: Session, token_id: str) -> list[str] | None:
    """The token's owners, or None when there is no such token."""
    row = session.exec(select(Token.owners).where(Token.id == token_id)).first()
    return None if row is None else list(row)


def list_tokens(*, session: Session, include_retired: bool = False) -> Sequence[Token]:
    stmt = select(Token).order_by(Token.expires_at, Token.id)
    return session.exec(stmt if include_retired else stmt.where(_active(Token))).all()


def list_accounts(*, session: Session, include_retired: bool = False) -> Sequence[Account]:
    stmt = select(Account).order_by(Account.id)
    return session.exec(stmt if include_retired else stmt.where(_active(Account))).all()


def token_names(*, session: Session) -> list[tuple[str, str]]:
    stmt = select(Token.id, Token.name).where(_active(Token)).order_by(Token.name)
    return [(r[0], r[1]) for r in session.exec(stmt).all()]


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


def account_ids(*, session: Session) -> set[str]:
    return set(session.exec(select(Account.id)).all())


def token_expiry(*, session: Session, token_id: str) -> datetime | None:
    return session.exec(select(Token.expires_at).where(Token.id == token_id)).first()


def save_kind(*, session: Session, values: dict) -> Save:
    row = session.get(Kind, values["id"])
    if row is None:
        session.add(Kind(**values))
        return Save(Saved.CREATED)
    return _saved(_assign(row, values))


def list_kinds(*, session: Session) -> Sequence[Kind]:
    return session.exec(select(Kind).order_by(Kind.id)).all()


def save_account(*, session: Session, values: dict, on_create_only: Sequence[str] = ()) -> Save:
    """Creates the account, or updates it except for `on_create_only` fields (they belong to renewals then)."""
    row = session.get(Account, values["id"])
    if row is None:
        session.add(Account(**values))
        return Save(Saved.CREATED)
    return _saved(_assign(row, {k: v for k, v in values.items() if k not in on_create_only}))


def save_token(*, session: Session, values: dict, bump_version: bool = False) -> Save:
    """Creates or updates a token's described fields (never its secret)."""
    row = session.get(Token, values["id"])
    if row is None:
        session.add(Token(**values))
        session.flush()
        return Save(Saved.CREATED)
    changes = _assign(row, values)
    if bump_version:
        row.version += 1
    return _saved(changes)


def set_token_accounts(*, session: Session, token_id: str, account_ids: Sequence[str]) -> bool:
    """Links the token to these accounts, in this order; returns whether anything changed."""
    if account_ids_of(session=session, token_id=token_id) == list(account_ids):
        return False
    session.execute(delete(TokenAccount).where(TokenAccount.token_id == token_id))
    session.flush()
    for position, account_id in enumerate(account_ids):
        session.add(TokenAccount(token_id=token_id, account_id=account_id, position=position))
    return True


def tokens_due(*, session: Session, now: datetime, batch: int = 500) -> Iterator[Token]:
    """Tokens whose first threshold has passed, streamed: cost follows the due ones, not the table."""
    stmt = (select(Token).where(Token.notify_from <= now, _active(Token)).order_by(Token.notify_from)
            .execution_options(yield_per=batch))
    yield from session.exec(stmt)


# --- renewals ---------------------------------------------------------------


def bump_token_version(*, session: Session, token_id: str, expected_version: int, **values) -> bool:
    """Optimistic lock: only one of two racing renewals of the same modal wins."""
    result = session.execute(
        update(Token)
        .where(Token.id == token_id, Token.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    return result.rowcount == 1


def reencrypt_secrets(*, session: Session, rotate: Callable[[str, str], str]) -> int:
    """Replaces every stored secret with rotate(ciphertext, token_id), rows locked; returns how many."""
    count = 0
    stmt = select(Token).where(col(Token.secret_encrypted).is_not(None)).order_by(Token.id).with_for_update()
    for token in session.exec(stmt):
        token.secret_encrypted = rotate(token.secret_encrypted, token.id)
        session.add(token)
        count += 1
    return count
