"""Queries on tokens, accounts and renewals. Each takes the session keyword-only; callers own the commit.

Notices (the outbox) are in storage/notices.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, literal_column, or_, text, update
from sqlmodel import Session, col, select

from storage.attention import not_muted
from storage.models import Account, Connector, Kind, Notice, NoticeState, Token, TokenAccount


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


def token_ids_using(*, session: Session, account_id: str) -> list[str]:
    """The tokens in service that serve this account."""
    stmt = (select(Token.id).join(TokenAccount, col(TokenAccount.token_id) == col(Token.id))
            .where(TokenAccount.account_id == account_id, _active(Token)).order_by(Token.id))
    return list(session.exec(stmt).all())


def account_ids(*, session: Session) -> set[str]:
    return set(session.exec(select(Account.id)).all())


def connector_ids(*, session: Session) -> set[str]:
    return set(session.exec(select(Connector.id)).all())


def list_connectors(*, session: Session) -> Sequence[Connector]:
    return session.exec(select(Connector).order_by(Connector.id)).all()


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


# --- in bulk, for imports: a statement per few thousand rows, never one per row -------------

CHUNK = 5000  # ids per IN list / rows per executemany: well inside SQLite's and PostgreSQL's parameter limits


def _table(model: Any) -> Table:
    return model.__table__


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def rows_by_id(*, session: Session, model: Any, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict]:
    """The stored rows among `ids`, as {id: {column: value}} with values as the ORM reads them."""
    table = _table(model)
    wanted = [table.c[name] for name in columns]
    out: dict[str, dict] = {}
    for chunk in _chunks(ids):
        for row in session.execute(select(*wanted).where(table.c.id.in_(chunk))):
            values = dict(zip(columns, row, strict=True))
            out[values["id"]] = values
    return out


def insert_rows(*, session: Session, model: Any, rows: Sequence[dict]) -> None:
    """INSERTs (executemany); every row must give the same columns."""
    for chunk in _chunks(rows):
        session.execute(insert(_table(model)), list(chunk))


def update_rows(*, session: Session, model: Any, rows: Sequence[dict]) -> None:
    """UPDATEs by id (executemany), one statement per set of columns changed; each row: {"id": ..., column: new}."""
    table = _table(model)
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        names = tuple(sorted(k for k in row if k != "id"))
        groups.setdefault(names, []).append({"b_id": row["id"], **{k: row[k] for k in names}})
    for names, group in groups.items():
        stmt = update(table).where(table.c.id == bindparam("b_id")).values({k: bindparam(k) for k in names})
        for chunk in _chunks(group):
            session.execute(stmt, list(chunk))


def account_ids_by_token(*, session: Session, token_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each token's linked account ids in order, for the tokens among `token_ids` that have any."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(token_ids):
        stmt = (select(TokenAccount.token_id, TokenAccount.account_id)
                .where(col(TokenAccount.token_id).in_(chunk)).order_by(TokenAccount.token_id, TokenAccount.position))
        for token_id, account_id in session.execute(stmt):
            out.setdefault(token_id, []).append(account_id)
    return out


def unlink_accounts(*, session: Session, token_ids: Sequence[str]) -> None:
    """Removes every account link of these tokens (to be replaced with link_accounts)."""
    for chunk in _chunks(token_ids):
        session.execute(delete(TokenAccount).where(col(TokenAccount.token_id).in_(chunk)))


def link_accounts(*, session: Session, links: dict[str, Sequence[str]]) -> None:
    """Links each token to its accounts, in this order (set_token_accounts for many tokens without links)."""
    insert_rows(session=session, model=TokenAccount, rows=[
        {"token_id": token_id, "account_id": account_id, "position": position}
        for token_id, account_ids in links.items() for position, account_id in enumerate(account_ids)])


def supersede_open_notices(*, session: Session, now: datetime, token_ids: Sequence[str] = (),
                           expiries: Sequence[tuple[str, datetime]] = ()) -> None:
    """notices.close_notices(state=SUPERSEDED) in bulk: every open (or failed) notice of `token_ids`, and
    those of each (token id, expiry) in `expiries`."""
    notice = _table(Notice)
    closable = [str(s) for s in (*NoticeState.open(), NoticeState.FAILED)]
    values = dict(state=NoticeState.SUPERSEDED, closed_at=now, claimed_until=None)
    for chunk in _chunks(token_ids):
        session.execute(update(notice).where(notice.c.token_id.in_(chunk), notice.c.state.in_(closable))
                        .values(**values))
    if expiries:
        # executemany takes no IN list: the states as ORs.
        stmt = (update(notice).where(notice.c.token_id == bindparam("b_token"),
                                     notice.c.expires_at == bindparam("b_expires"),
                                     or_(*(notice.c.state == state for state in closable)))
                .values(**values))
        for chunk in _chunks(expiries):
            session.execute(stmt, [{"b_token": t, "b_expires": e} for t, e in chunk])


def tokens_due(*, session: Session, now: datetime, batch: int = 500) -> Iterator[Token]:
    """Tokens whose first threshold has passed, streamed: cost follows the due ones, not the table.

    Muted tokens (storage/attention.py) are left out: a filter on the rows the notify_from index found, so the
    plan stays the same."""
    stmt = select(Token).where(Token.notify_from <= now, _active(Token), not_muted())
    yield from session.exec(stmt.order_by(Token.notify_from).execution_options(yield_per=batch))


# --- renewals ---------------------------------------------------------------


def bump_token_version(*, session: Session, token_id: str, expected_version: int, **values) -> bool:
    """Optimistic lock: only one of two racing renewals of the same modal wins."""
    result = session.execute(
        update(Token)
        .where(Token.id == token_id, Token.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    return result.rowcount == 1


def reencrypt_secrets(*, session: Session, rotate: Callable[[str, str], str], key_id: str | None) -> int:
    """Replaces every stored secret with rotate(ciphertext, token_id), rows locked, and records `key_id` (the key
    rotate() encrypts with) beside each; returns how many."""
    count = 0
    stmt = select(Token).where(col(Token.secret_encrypted).is_not(None)).order_by(Token.id).with_for_update()
    for token in session.exec(stmt):
        token.secret_encrypted = rotate(token.secret_encrypted, token.id)
        token.secret_key_id = key_id
        session.add(token)
        count += 1
    return count


# --- which keys the stored secrets need (start-up checks) ----------------------

# Each distinct key id by one seek on ix_token_secret_key_id (a loose index scan; neither SQLite nor PostgreSQL
# does one for SELECT DISTINCT, which would read every index entry): cost follows the number of keys ever used,
# not the number of tokens.
_DISTINCT_KEY_IDS = text("""
WITH RECURSIVE ids(k) AS (
    SELECT (SELECT MIN(secret_key_id) FROM token WHERE secret_key_id > '' AND secret_encrypted IS NOT NULL)
    UNION ALL
    SELECT (SELECT MIN(secret_key_id) FROM token WHERE secret_key_id > ids.k AND secret_encrypted IS NOT NULL)
    FROM ids WHERE ids.k IS NOT NULL
)
SELECT k FROM ids WHERE k IS NOT NULL
""")


def secret_key_ids(*, session: Session) -> list[str]:
    """The distinct key ids of the stored secrets (secrets stored before key ids existed have none)."""
    return [row[0] for row in session.execute(_DISTINCT_KEY_IDS)]


def secrets_under(*, session: Session, key_ids: Sequence[str]) -> tuple[int, str | None]:
    """How many stored secrets carry one of `key_ids`, and the first such token's id."""
    where = (col(Token.secret_key_id).in_(list(key_ids)), col(Token.secret_encrypted).is_not(None))
    count = session.exec(select(func.count()).select_from(Token).where(*where)).one()
    return count, session.exec(select(func.min(Token.id)).where(*where)).one()


def sample_secrets(*, session: Session, key_id: str, limit: int) -> list[tuple[str, str]]:
    """A few (token id, ciphertext) stored under `key_id`, in index order (no sort of all of them)."""
    stmt = (select(Token.id, Token.secret_encrypted)
            .where(Token.secret_key_id == key_id, col(Token.secret_encrypted).is_not(None)).limit(limit))
    return [(token_id, secret) for token_id, secret in session.exec(stmt)]


def secrets_without_key_id(*, session: Session, batch: int = 1000) -> Iterator[tuple[str, str]]:
    """(token id, ciphertext) of every secret stored before key ids existed, streamed. The set only shrinks:
    renewals and `rotate-keys` record the key id."""
    legacy = col(Token.secret_key_id).is_(None)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's statistics hold no share of NULLs: after ANALYZE it takes "IS NULL" to match as many rows as
        # an average key id and scans the table. Say it is rare, so it seeks ix_token_secret_key_id instead.
        legacy = func.likelihood(legacy, literal_column("0.000001"))
    stmt = (select(Token.id, Token.secret_encrypted).where(legacy, col(Token.secret_encrypted).is_not(None))
            .execution_options(yield_per=batch))
    yield from session.exec(stmt)


def has_secrets(*, session: Session) -> bool:
    """Whether any token holds a secret (one probe of the partial index ix_token_secret)."""
    # ORDER BY id: what makes SQLite read the partial index (a plain scan would read every secretless token first).
    stmt = select(Token.id).where(col(Token.secret_encrypted).is_not(None)).order_by(Token.id).limit(1)
    return session.exec(stmt).first() is not None


def count_secrets(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Token).where(col(Token.secret_encrypted).is_not(None))).one()
