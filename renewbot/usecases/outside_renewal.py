"""A renewal whose secret comes from outside Slack: the private page (kind "page") or Amazon's consent ("amazon").

Two steps. start(): the Slack form, without its secret, is owner-checked and validated, and a pending renewal
is stored (renewbot.usecases.pending). complete(): the secret arrives; the pending renewal's person is
owner-checked again (ownership may have changed meanwhile), everything is validated again with the secret, and
ONE transaction consumes the pending renewal and applies the renewal exactly as a pasted one (renew()).
No Slack in here: the caller announces the outcome after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.engine import Engine

from renewbot.blocks.modal import IN_FORM, ON_PAGE, WITH_AMAZON
from renewbot.crypto import SecretBox
from renewbot.domain.kinds import Kind, resolve
from renewbot.domain.validation import TOKEN_FIELD, RenewalForm, validate_choices
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.runtime.config import SecretEntrySettings
from renewbot.runtime.metrics import Metrics
from renewbot.usecases import pending
from renewbot.usecases.amazon_oauth import authorized_until, settle_seller, uses_amazon_authorization
from renewbot.usecases.kinds import team_kinds
from renewbot.usecases.pending import Choices, Pending
from renewbot.usecases.renewal import RenewalOutcome, RenewalRequest, renew
from renewbot.usecases.verify import Verifier
from storage import queries, search
from storage.db import session_scope

NOT_OWNER = "Only this token's owners can renew it."


def entry_for(token, entry: SecretEntrySettings) -> str:
    """Where `token`'s new secret is entered: WITH_AMAZON (its kind is authorized on Amazon's consent page, and
    renewbot is set up for it), ON_PAGE (SECRET_ENTRY=page: any other kind, self-authorized SP-API apps included),
    or IN_FORM (the Slack form, SECRET_ENTRY=modal)."""
    if uses_amazon_authorization(token, entry):
        return WITH_AMAZON
    return ON_PAGE if entry.secret_entry == ON_PAGE and entry.public_url else IN_FORM


class NotAllowed(RenewalRejected):
    """The person may not renew this token (any more): nothing was stored or changed."""

    def __init__(self) -> None:
        super().__init__({TOKEN_FIELD: NOT_OWNER})


@dataclass(frozen=True)
class Started:
    key: str = field(repr=False)  # goes into the link or Amazon's `state`, nowhere else: never logged
    pending: Pending
    token_name: str
    kind: Kind


def start(*, engine: Engine, kind: str, request: RenewalRequest, may_act: Callable[[Sequence[str]], bool],
          now: datetime, thread_channel: str | None = None) -> Started:
    """Checks the form's choices (everything but the secret) and stores the pending renewal.

    Raises NotAllowed or RenewalRejected (messages by field, as renew() does); nothing is stored then."""
    with session_scope(engine) as session:
        token = queries.get_token(session=session, token_id=request.token_id)
        if token is None:
            raise RenewalRejected({TOKEN_FIELD: "This token no longer exists."})
        owners, token_kind = list(token.owners), resolve(token.kind, team_kinds(session=session))
        current = token.expires_at if token.expiry_known else now
        account_ids = queries.account_ids_of(session=session, token_id=token.id)
        name = token.name
    if not may_act(owners):  # a Slack call: made with no transaction open
        raise NotAllowed()
    if kind == pending.AMAZON:
        # Amazon's form has no date: an authorization lasts a year from the day it is given (the callback sets it).
        request = replace(request, form=replace(request.form, expiry=authorized_until(now.date()).isoformat()))
    expiry, reenable, no_fetch = validate_choices(request.form, kind=token_kind, current_expiry=current,
                                                  account_ids=account_ids, now=now)
    choices = Choices(expiry=expiry, reenable=reenable, no_fetch=no_fetch, accounts=frozenset(account_ids))
    with session_scope(engine) as session:
        key, row = pending.create(session=session, kind=kind, token_id=request.token_id,
                                  token_version=request.version, user_id=request.user_id, choices=choices, now=now,
                                  thread_channel=thread_channel)
    return Started(key=key, pending=row, token_name=name, kind=token_kind)


@dataclass(frozen=True)
class Opened:
    """What the private page shows for a usable link."""
    pending: Pending
    token_name: str
    kind: Kind
    owners: tuple[str, ...] = ()  # as now: for the owner check before anything is spent


def open_pending(*, engine: Engine, key: str | None, kind: str, now: datetime) -> Opened:
    """The usable pending renewal behind `key` and its token, without consuming it (a GET, a link preview).
    Raises PendingRefused (UNKNOWN too when the token is gone), or StaleRenewal when the token moved on since the
    form (renewed, or imported again): completing would be refused, so nothing is offered or spent for it."""
    with session_scope(engine) as session:
        found = pending.peek(session=session, key=key, kind=kind, now=now)
        token = queries.get_token(session=session, token_id=found.token_id)
        if token is None:
            raise pending.PendingRefused(pending.UNKNOWN)
        if token.version != found.token_version:
            raise StaleRenewal(f"token {token.id} moved on since the pending renewal", token.name)
        return Opened(pending=found, token_name=token.name, kind=resolve(token.kind, team_kinds(session=session)),
                      owners=tuple(token.owners))


def complete(*, engine: Engine, box: SecretBox, pending_key: str | None, kind: str, secret: str | None,
             expiry_override: str | None, now: datetime, may_act: Callable[[str, str, Sequence[str]], bool],
             verifier: Verifier | None, via: str, metrics: Metrics | None = None,
             seller: str | None = None) -> RenewalOutcome:
    """Applies the pending renewal behind `pending_key` with `secret`, in one transaction that also consumes it.

    `expiry_override` ("YYYY-MM-DD", or None for the date chosen in the form): the page's date field, or
    Amazon's fixed year. `may_act(user_id, token_id, owners)`: whether the person who asked may still act.
    `seller`: Amazon's selling_partner_id, compared with (or stored as) the token's in the same transaction.
    Raises PendingRefused (unknown, used, expired, foreign), NotAllowed, amazon_oauth.WrongSeller,
    RenewalRejected (messages by field: the link stays usable) or StaleRenewal; nothing changes then, and the
    pending renewal is not consumed.
    """
    with session_scope(engine) as session:
        found = pending.peek(session=session, key=pending_key, kind=kind, now=now)
        served = frozenset(queries.account_ids_of(session=session, token_id=found.token_id))
        no_fetch_now = search.no_fetch_ids(session=session, token_id=found.token_id)
    choices = found.choices
    expiry = expiry_override if expiry_override is not None else (
        choices.expiry.isoformat() if choices.expiry else None)
    # The searchable form's shape: the picks as stored, and an account added since the form keeps its flag.
    form = RenewalForm(secret=secret, expiry=expiry, large=True, reenable_all=False,
                       reenable_picked=choices.reenable & served, no_fetch_picked=choices.no_fetch & served,
                       no_fetch_shown=choices.accounts, no_fetch_now=no_fetch_now)
    request = RenewalRequest(token_id=found.token_id, version=found.token_version, user_id=found.user_id, form=form)
    refused: list[bool] = []

    def allowed(owners: Sequence[str]) -> bool:
        ok = may_act(found.user_id, found.token_id, owners)
        if not ok:
            refused.append(True)
        return ok

    def consume(session) -> None:
        # Again inside the write transaction: of two requests completing the same key, one wins.
        pending.consume(session=session, key=pending_key, kind=kind, now=now, user_id=found.user_id)
        if seller is not None and (token := queries.get_token(session=session, token_id=found.token_id)) is not None:
            settle_seller(token, seller)

    try:
        return renew(engine=engine, box=box, request=request, may_act=allowed, now=now, verifier=verifier,
                     metrics=metrics, via=via, in_transaction=consume)
    except RenewalRejected:
        if refused:
            raise NotAllowed() from None
        raise
