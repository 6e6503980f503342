"""Retiring a token or an account, and bringing it back. No Slack in here; the caller commits.

A retired token gets no notices and leaves the lists and the picker; its notices still open are withdrawn
(superseded) so nothing already planned is posted later. Its renewals stay in the audit. Bringing it back
puts back the notice for its current stage if that one was withdrawn before it was ever posted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session

from renewbot.domain.thresholds import OK
from renewbot.usecases.kinds import ladders, token_stage
from storage import lifecycle, notices, queries
from storage.models import Account, NoticeState, Token


@dataclass(frozen=True)
class RetireResult:
    what: str  # "token" or "account"
    id: str
    retired: bool  # the state asked for (and now held)
    changed: bool  # False: it was already so, and nothing was written
    withdrawn: int = 0  # notices superseded by retiring a token
    restored: int = 0  # notices put back to pending by bringing a token back

    def summary(self) -> str:
        if not self.changed:
            return f"{self.what} {self.id} was already {'retired' if self.retired else 'in service'} (nothing changed)"
        if not self.retired:
            restored = f" ({_notices(self.restored)} restored)" if self.what == "token" else ""
            return f"{self.what} {self.id} back in service{restored}"
        withdrawn = f" ({_notices(self.withdrawn, 'open ')} withdrawn)" if self.what == "token" else ""
        return f"{self.what} {self.id} retired{withdrawn}"


def _notices(count: int, adjective: str = "") -> str:
    return f"{count} {adjective}notice{'' if count == 1 else 's'}"


def retire(*, session: Session, row_id: str, account: bool = False, undo: bool = False,
           now: datetime) -> RetireResult | None:
    """Retires (or, with undo, brings back) the token or account `row_id`; None when there is no such one."""
    what, model = ("account", Account) if account else ("token", Token)
    changed = lifecycle.set_retired(session=session, model=model, row_id=row_id, retired=not undo)
    if changed is None:
        return None
    result = RetireResult(what=what, id=row_id, retired=not undo, changed=changed)
    if account or not changed:
        return result
    if not undo:
        withdrawn = notices.close_notices(session=session, token_id=row_id, now=now, state=NoticeState.SUPERSEDED)
        return replace(result, withdrawn=withdrawn)
    token = queries.get_token(session=session, token_id=row_id)
    stage = token_stage(token, now, ladders(session=session))
    restored = 0 if stage == OK else lifecycle.restore_withdrawn(
        session=session, token_id=row_id, expires_at=token.expires_at, stage=stage)
    return replace(result, restored=restored)
