"""What outlives a token's working life: retiring tokens and accounts, and reading the renewal audit.

Nothing here deletes. Retired rows stay (storage/queries.py leaves them out of the scan and the lists);
audit rows stay even when their token row is gone. Each function takes the session keyword-only;
callers own the commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Account, Notice, NoticeState, Renewal, Token


def set_retired(*, session: Session, model: type[Token] | type[Account], row_id: str, retired: bool) -> bool | None:
    """Retires (or brings back) one token or account: whether it changed, or None when there is no such row."""
    row = session.get(model, row_id)
    if row is None:
        return None
    if row.retired == retired:
        return False
    row.retired = retired
    session.add(row)
    session.flush()
    return True


def restore_withdrawn(*, session: Session, token_id: str, expires_at: datetime, stage: str) -> int:
    """Puts back to pending the notice for this expiry and stage that was withdrawn before it was ever posted.

    Only that one: a stage already posted was seen, and earlier stages stay replaced by the nearer one.
    """
    stmt = (
        update(Notice)
        .where(Notice.token_id == token_id, Notice.expires_at == expires_at, Notice.stage == stage,
               Notice.state == NoticeState.SUPERSEDED, col(Notice.ts).is_(None))
        .values(state=NoticeState.PENDING, closed_at=None, next_attempt_at=None, claimed_until=None)
    )
    return session.execute(stmt).rowcount


def renewal_history(*, session: Session, token_id: str | None = None) -> list[tuple[Renewal, str | None]]:
    """Every renewal (only `token_id`'s, if given), oldest first, with its token's name while the token exists.

    Retired tokens are included; a token row deleted since leaves its renewals, with no name.
    Reads Token.name only: nothing here can carry a secret.
    """
    stmt = (
        select(Renewal, Token.name)
        .outerjoin(Token, col(Token.id) == col(Renewal.token_id))
        .order_by(Renewal.renewed_at, Renewal.id)
    )
    if token_id is not None:
        stmt = stmt.where(Renewal.token_id == token_id)
    return [(renewal, name) for renewal, name in session.exec(stmt).all()]
