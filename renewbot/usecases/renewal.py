"""The renewal use case: who may renew, what they entered, and one database transaction. No Slack in here.

The order is the point: read the owners, ask whether this person is one of
them (a Slack call, made before any transaction is open), then in one
transaction load, validate and apply. The version check refuses a form opened
before someone else's renewal; an owners list changed meanwhile refuses too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from renewbot.crypto import SecretBox
from renewbot.domain.kinds import resolve
from renewbot.domain.thresholds import notify_from
from renewbot.domain.validation import TOKEN_FIELD, RenewalForm, Submission, validate_renewal
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.usecases.kinds import team_kinds
from storage import notices, queries
from storage.db import bounded_lock_waits, session_scope
from storage.models import Renewal


@dataclass(frozen=True)
class RenewalOutcome:
    token_id: str
    token_name: str
    channel: str
    renewed_by: str
    old_expiry: datetime
    new_expiry: datetime
    accounts: list[dict]  # {"id", "name", "reenabled", "enabled", "fetch_orders"}
    thread: tuple[str, str] | None  # (channel, ts) of the notice to answer in, if one was open


def apply_renewal(*, session: Session, box: SecretBox, submission: Submission, user_id: str,
                  now: datetime, kind_ladder: Sequence[int] | None = None) -> RenewalOutcome:
    """Stores the secret, moves the expiry, re-enables accounts, closes notices, writes the audit row.

    The caller commits. The version check makes a doubled submission apply once.
    """
    token = queries.get_token(session=session, token_id=submission.token_id)
    if token is None:
        raise RenewalRejected({"token": "This token no longer exists."})
    old_expiry = token.expires_at
    accounts = queries.token_accounts(session=session, token_id=token.id)
    thread = None
    for notice in notices.open_notices(session=session, token_id=token.id):
        if notice.expires_at == old_expiry and notice.root_ts:
            thread = (notice.channel, notice.root_ts)
            break
    won = queries.bump_token_version(
        session=session, token_id=token.id, expected_version=submission.version,
        secret_encrypted=box.encrypt(submission.secret), secret_key_id=box.current_key_id,
        expires_at=submission.new_expiry,
        notify_from=notify_from(submission.new_expiry, token.notify_days or kind_ladder),
    )
    if not won:
        raise StaleRenewal(f"token {token.id} changed since the form was opened", token.name)
    changes = []
    for account in accounts:
        reenabled = account.id in submission.reenable
        if reenabled:
            account.enabled = True
        account.fetch_orders = account.id not in submission.no_fetch
        session.add(account)
        changes.append(dict(id=account.id, name=account.name, reenabled=reenabled,
                            enabled=account.enabled, fetch_orders=account.fetch_orders))
    notices.close_notices(session=session, token_id=token.id, now=now)
    session.add(Renewal(token_id=token.id, renewed_by=user_id, renewed_at=now, old_expires_at=old_expiry,
                        new_expires_at=submission.new_expiry, accounts=changes))
    session.flush()
    return RenewalOutcome(token_id=token.id, token_name=token.name, channel=token.channel, renewed_by=user_id,
                          old_expiry=old_expiry, new_expiry=submission.new_expiry, accounts=changes, thread=thread)


# Slack shows a submission as failed after 3 s: a lock held longer than this fails it (nothing changed) instead of
# letting it commit after the person was told it failed.
LOCK_WAIT_SECONDS = 1.5


@dataclass(frozen=True)
class RenewalRequest:
    """One person's submitted form for one token, as of the version their form showed."""
    token_id: str
    version: int
    user_id: str
    form: RenewalForm


def renew(*, engine: Engine, box: SecretBox, request: RenewalRequest,
          may_act: Callable[[Sequence[str]], bool], now: datetime) -> RenewalOutcome:
    """Checks who asks, then validates and applies in one committed transaction.

    Raises RenewalRejected (messages by field) or StaleRenewal; nothing is changed then.
    `may_act(owners)` answers whether the requester may act for a token with these owners.
    """
    with session_scope(engine) as session:
        owners = queries.token_owners(session=session, token_id=request.token_id)
    if owners is None:
        raise RenewalRejected({TOKEN_FIELD: "This token no longer exists."})
    if not may_act(owners):
        raise RenewalRejected({TOKEN_FIELD: "Only this token's owners can renew it."})
    with session_scope(engine) as session, bounded_lock_waits(session, LOCK_WAIT_SECONDS):
        token = queries.get_token(session=session, token_id=request.token_id)
        if token is None:
            raise RenewalRejected({TOKEN_FIELD: "This token no longer exists."})
        if list(token.owners) != list(owners):
            # An import changed who may act between the check and now: decide again from the new list.
            raise StaleRenewal(f"token {token.id}'s owners changed since the form was submitted", token.name)
        accounts = queries.account_ids_of(session=session, token_id=token.id)
        kind = resolve(token.kind, team_kinds(session=session))
        submission = validate_renewal(request.form, token_id=token.id, version=request.version, kind=kind,
                                      current_expiry=token.expires_at, account_ids=accounts, now=now)
        return apply_renewal(session=session, box=box, submission=submission, user_id=request.user_id, now=now,
                             kind_ladder=kind.notify_days)
