"""A renewal, applied in one database transaction. No Slack in here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from crypto import SecretBox
from errors import RenewalRejected, StaleRenewal
from storage import queries
from storage.models import Renewal
from thresholds import ladder_for, notify_from
from validation import Submission


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
                  now: datetime) -> RenewalOutcome:
    """Stores the secret, moves the expiry, re-enables accounts, closes notices, writes the audit row.

    The caller commits. The version check makes a doubled submission apply once.
    """
    token = queries.get_token(session=session, token_id=submission.token_id)
    if token is None:
        raise RenewalRejected({"token": "This token no longer exists."})
    old_expiry = token.expires_at
    accounts = queries.token_accounts(session=session, token_id=token.id)
    thread = None
    for notice in queries.open_notices(session=session, token_id=token.id):
        if notice.expires_at == old_expiry and notice.root_ts:
            thread = (notice.channel, notice.root_ts)
            break
    won = queries.bump_token_version(
        session=session, token_id=token.id, expected_version=submission.version,
        secret_encrypted=box.encrypt(submission.secret), expires_at=submission.new_expiry,
        notify_from=notify_from(submission.new_expiry, ladder_for(token.notify_days)),
    )
    if not won:
        raise StaleRenewal(f"token {token.id} changed since the form was opened")
    changes = []
    for account in accounts:
        reenabled = account.id in submission.reenable
        if reenabled:
            account.enabled = True
        account.fetch_orders = account.id not in submission.no_fetch
        session.add(account)
        changes.append(dict(id=account.id, name=account.name, reenabled=reenabled,
                            enabled=account.enabled, fetch_orders=account.fetch_orders))
    queries.close_notices(session=session, token_id=token.id, now=now)
    session.add(Renewal(token_id=token.id, renewed_by=user_id, renewed_at=now, old_expires_at=old_expiry,
                        new_expires_at=submission.new_expiry, accounts=changes))
    session.flush()
    return RenewalOutcome(token_id=token.id, token_name=token.name, channel=token.channel, renewed_by=user_id,
                          old_expiry=old_expiry, new_expiry=submission.new_expiry, accounts=changes, thread=thread)
