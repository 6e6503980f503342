"""Type-ahead search for the pickers (Slack's options load requests): a handful of LIMIT-ed queries, never a
query per row and never every token in memory.

Tokens, in this order, each phase only when the ones before found fewer than `limit`:
  1. name prefix, through the functional index ix_token_lower_name (a range on lower(name), which both SQLite
     and PostgreSQL answer from that index; the LIKE beside it keeps the result exact under any collation);
  2. id prefix, through the primary key (as typed, then in lower case);
  3. a substring of the name anywhere: it reads the name index in order and stops at `limit` matches,
     so it costs a whole-index walk only when the text is rare, and is only reached when 1 and 2 came up short.
What people type is matched literally: `%` and `_` are escaped (SQLAlchemy's autoescape).
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, func, or_, true
from sqlmodel import Session, col, select

from storage.models import Account, Token, TokenAccount

MAX_QUERY = 100  # longer typed text is cut: no name worth finding needs more to be told apart


class TokenRow(NamedTuple):
    """What the picker needs to decide who may see a token: no secret, no dates."""
    id: str
    name: str
    owners: tuple[str, ...]
    channel: str


class AccountRow(NamedTuple):
    id: str
    name: str


def tidy(query: object) -> str:
    """Typed text with its spacing tidied and its length bounded; anything else reads as nothing typed."""
    return " ".join(query.split())[:MAX_QUERY] if isinstance(query, str) else ""


def _after(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None when there is none)."""
    last = ord(prefix[-1])
    return None if last >= 0x10FFFF else prefix[:-1] + chr(last + 1)


def _prefix(expr, prefix: str):
    """expr starts with prefix: a range the index can seek to, plus the exact (escaped) LIKE."""
    clauses = [expr >= prefix, expr.startswith(prefix, autoescape=True)]
    if (upper := _after(prefix)) is not None:
        clauses.append(expr < upper)
    return and_(*clauses)


def _token_rows(session: Session, where, order, limit: int) -> list[TokenRow]:
    stmt = (select(Token.id, Token.name, Token.owners, Token.channel)
            .where(col(Token.retired).is_(False), where).order_by(*order).limit(limit))
    return [TokenRow(r[0], r[1], tuple(r[2] or ()), r[3]) for r in session.exec(stmt).all()]


def search_tokens(*, session: Session, query: str, limit: int) -> list[TokenRow]:
    """Tokens in service whose name or id matches `query` (see the module docstring), at most `limit`.

    An empty query lists the first tokens in name order (case-insensitive)."""
    query = tidy(query)
    lname = func.lower(Token.name)
    by_name = (lname, col(Token.id))
    if not query:
        return _token_rows(session, true(), by_name, limit)
    needle = query.lower()
    found = _token_rows(session, _prefix(lname, needle), by_name, limit)
    for typed in dict.fromkeys((query, needle)):  # ids are case-sensitive; people often type lower case
        if len(found) < limit:
            seen = {r.id for r in found}
            more = _token_rows(session, _prefix(col(Token.id), typed), (col(Token.id),), limit)
            found += [r for r in more if r.id not in seen][:limit - len(found)]
    if len(found) < limit:
        seen = {r.id for r in found}
        # The name only: a second lower() per row doubled this phase's cost, and ids are found by prefix above.
        anywhere = lname.contains(needle, autoescape=True)
        # Asks for `limit` more than it may keep: the rows found above match here too and are dropped.
        more = _token_rows(session, anywhere, by_name, limit + len(seen))
        found += [r for r in more if r.id not in seen][:limit - len(found)]
    return found


def _account_rows(session: Session, where, order, limit: int, token_id: str | None) -> list[AccountRow]:
    stmt = select(Account.id, Account.name)
    if token_id is None:
        stmt = stmt.where(col(Account.retired).is_(False))
    else:
        stmt = stmt.join(TokenAccount, col(TokenAccount.account_id) == col(Account.id)).where(
            TokenAccount.token_id == token_id)
    return [AccountRow(r[0], r[1]) for r in session.exec(stmt.where(where).order_by(*order).limit(limit)).all()]


def search_accounts(*, session: Session, query: str, limit: int, token_id: str | None = None) -> list[AccountRow]:
    """Accounts matching `query` by id prefix, then by name or id anywhere; at most `limit`.

    With `token_id`, only that token's accounts (every one it serves, in its order); without, every account in
    service (by name)."""
    query = tidy(query)
    order = (col(TokenAccount.position), col(Account.id)) if token_id else (func.lower(Account.name), col(Account.id))
    if not query:
        return _account_rows(session, true(), order, limit, token_id)
    found = _account_rows(session, _prefix(col(Account.id), query), (col(Account.id),), limit, token_id)
    if len(found) < limit:
        seen = {r.id for r in found}
        needle = query.lower()
        anywhere = or_(func.lower(Account.name).contains(needle, autoescape=True),
                       func.lower(Account.id).contains(needle, autoescape=True))
        more = _account_rows(session, anywhere, order, limit + len(seen), token_id)
        found += [r for r in more if r.id not in seen][:limit - len(found)]
    return found


def no_fetch_ids(*, session: Session, token_id: str) -> frozenset[str]:
    """The token's accounts set to "Don't fetch orders" now."""
    stmt = (select(Account.id).join(TokenAccount, col(TokenAccount.account_id) == col(Account.id))
            .where(TokenAccount.token_id == token_id, col(Account.fetch_orders).is_(False)))
    return frozenset(session.exec(stmt).all())
