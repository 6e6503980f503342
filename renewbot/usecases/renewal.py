"""The renewal use case: who may renew, what they entered, and one database transaction. No Slack in here.

The order is the point: read the token, ask whether this person is one of its
owners (a Slack call, made before any transaction is open), validate and verify,
then in one transaction make sure nothing those decisions rested on changed, and
apply. The version check refuses a form opened before someone else's renewal;
owners, kind, expiry, accounts or verify_url changed meanwhile refuse too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from renewbot.crypto import SecretBox
from renewbot.domain.kinds import resolve
from renewbot.domain.thresholds import notify_from
from renewbot.domain.validation import SECRET_FIELD, TOKEN_FIELD, RenewalForm, Submission, validate_renewal
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.runtime.metrics import NO_METRICS, Metrics
from renewbot.usecases.kinds import team_kinds
from renewbot.usecases.verify import REFUSED, NoVerifier, Verifier
from storage import deliveries, notices, queries
from storage.db import bounded_lock_waits, session_scope
from storage.models import Delivery, Renewal, Token


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
    verification: str | None = None  # Renewal.verification: "verified", "unverified: <why>", None (nothing to check)
    verified_by: str | None = None  # who checked it: "Amazon", or the verify_url's host
    renewal_id: int | None = None  # the audit row (the "Done in the platform" button names it)
    connector: str | None = None  # where the renewal is being delivered; None: the platform still needs it by hand
    delivery_id: str | None = None  # that delivery's Renewbot-Delivery id
    via: str | None = None  # Renewal.via: None (the Slack form), "page" (the private page), "amazon" (its consent)


def apply_renewal(*, session: Session, box: SecretBox, submission: Submission, user_id: str,
                  now: datetime, kind_ladder: Sequence[int] | None = None,
                  verification: str | None = None, via: str | None = None) -> RenewalOutcome:
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
        expires_at=submission.new_expiry, expiry_known=True,
        notify_from=notify_from(submission.new_expiry, token.notify_days or kind_ladder),
    )
    if not won:
        raise StaleRenewal(f"token {token.id} changed since the form was opened", token.name)
    changes = []
    for account in accounts:
        reenabled = account.id in submission.reenable
        if reenabled:
            account.enabled = True
            account.state_reason = None  # why the platform had switched it off no longer describes it
        account.fetch_orders = account.id not in submission.no_fetch
        session.add(account)
        changes.append(dict(id=account.id, name=account.name, reenabled=reenabled,
                            enabled=account.enabled, fetch_orders=account.fetch_orders))
    notices.close_notices(session=session, token_id=token.id, now=now)
    renewal = Renewal(token_id=token.id, renewed_by=user_id, renewed_at=now, old_expires_at=old_expiry,
                      new_expires_at=submission.new_expiry, accounts=changes, verification=verification, via=via)
    session.add(renewal)
    session.flush()
    delivery = _plan_delivery(session=session, token=token, renewal_id=renewal.id, now=now)
    return RenewalOutcome(token_id=token.id, token_name=token.name, channel=token.channel, renewed_by=user_id,
                          old_expiry=old_expiry, new_expiry=submission.new_expiry, accounts=changes, thread=thread,
                          verification=verification, renewal_id=renewal.id, connector=token.connector,
                          delivery_id=delivery.delivery_id if delivery else None, via=via)


def _plan_delivery(*, session: Session, token: Token, renewal_id: int, now: datetime) -> Delivery | None:
    """The outbox row for the token's connector, in the renewal's transaction: sent after the commit, never lost.
    Deliveries of older renewals still waiting are replaced (they would carry a secret the token no longer has)."""
    deliveries.supersede_older(session=session, token_id=token.id, renewal_id=renewal_id, now=now)
    if not token.connector:
        return None
    return deliveries.plan(session=session, renewal_id=renewal_id, token_id=token.id, connector_id=token.connector,
                           now=now)


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


def _decided_on(*, session: Session, token: Token) -> dict[str, object]:
    """Everything renew() decides on before its write transaction: who may act, where the value is checked, and
    every read validation uses. An import changes these without bumping the version, so the version check alone
    can't tell that they moved."""
    return {
        "owners": tuple(token.owners),
        "verify_url": token.verify_url,
        "kind": resolve(token.kind, team_kinds(session=session)),
        "expiry": (token.expires_at, token.expiry_known),
        "accounts": tuple(queries.account_ids_of(session=session, token_id=token.id)),
    }


def renew(*, engine: Engine, box: SecretBox, request: RenewalRequest,
          may_act: Callable[[Sequence[str]], bool], now: datetime, verifier: Verifier | None = None,
          metrics: Metrics | None = None, via: str | None = None,
          in_transaction: Callable[[Session], object] | None = None) -> RenewalOutcome:
    """Checks who asks and what they entered, verifies the new value with its issuer, then applies it in one
    committed transaction.

    Raises RenewalRejected (messages by field) or StaleRenewal; nothing is changed then.
    `may_act(owners)` answers whether the requester may act for a token with these owners. The verifier's network
    call happens between the reads and the write transaction: never while a transaction is open.
    `in_transaction(session)` runs first in the write transaction (a secret entered outside Slack consumes its
    pending renewal there: both commit, or neither); `via` is stored on the audit row.
    """
    with session_scope(engine) as session:
        token = queries.get_token(session=session, token_id=request.token_id)
        if token is None:
            raise RenewalRejected({TOKEN_FIELD: "This token no longer exists."})
        seen = _decided_on(session=session, token=token)
    owners, verify_url, kind = list(seen["owners"]), seen["verify_url"], seen["kind"]
    if not may_act(owners):
        raise RenewalRejected({TOKEN_FIELD: "Only this token's owners can renew it."})
    expires_at, expiry_known = seen["expiry"]
    # Judged before the issuer is asked: a value the form refuses is never sent anywhere.
    # An expiry not read from its source yet is no bar: the new one only has to be in the future.
    submission = validate_renewal(request.form, token_id=request.token_id, version=request.version, kind=kind,
                                  current_expiry=expires_at if expiry_known else now,
                                  account_ids=list(seen["accounts"]), now=now)
    checked = (verifier or NoVerifier()).verify(kind=kind, secret=submission.secret, verify_url=verify_url,
                                                token_id=request.token_id)
    if checked is not None and checked.state == REFUSED:
        raise RenewalRejected({SECRET_FIELD: checked.reason})
    with session_scope(engine) as session, bounded_lock_waits(session, LOCK_WAIT_SECONDS):
        if in_transaction is not None:
            in_transaction(session)
        token = queries.get_token(session=session, token_id=request.token_id)
        if token is None:
            raise RenewalRejected({TOKEN_FIELD: "This token no longer exists."})
        now_seen = _decided_on(session=session, token=token)
        if changed := next((what for what in seen if now_seen[what] != seen[what]), None):
            # The owners check, the validation or the issuer's check was made on something else than the token
            # now is (an import landed meanwhile): the person decides again, from a form showing the new state.
            raise StaleRenewal(f"token {token.id}'s {changed} changed since the form was submitted", token.name)
        outcome = apply_renewal(session=session, box=box, submission=submission, user_id=request.user_id, now=now,
                                kind_ladder=kind.notify_days,
                                verification=checked.stored if checked is not None else None, via=via)
    (metrics or NO_METRICS).renewal(kind.id)  # committed: session_scope left without an exception
    return replace(outcome, verified_by=checked.by if checked is not None else None)
