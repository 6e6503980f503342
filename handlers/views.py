"""The renewal modal's interactions: picking a token, and submitting."""

from __future__ import annotations

import logging
from dataclasses import replace

from slack_bolt import App

from handlers import home
from handlers.access import Access, Decision
from handlers.lookups import FormLookups
from handlers.opening import refusal_text
from handlers.payload import SubmittedRenewal, dig, read_submission, token_ref
from jobs.connect import answer
from renewbot.blocks import ids
from renewbot.blocks.authorize import authorize_view
from renewbot.blocks.messages import confirmation_blocks, confirmation_text, not_allowed_field_text, stale_text
from renewbot.blocks.modal import IN_FORM, WITH_AMAZON, ModalState, renew_modal
from renewbot.blocks.notice import resolved_blocks, resolved_text
from renewbot.blocks.platform import not_connected_blocks, not_connected_text, on_its_way_block, on_its_way_text
from renewbot.blocks.secret_link import page_url, secret_link_view
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.runtime.deps import Deps
from renewbot.runtime.log_context import log_ids
from renewbot.usecases.amazon import paired_of
from renewbot.usecases.amazon_oauth import VIA as AMAZON_VIA
from renewbot.usecases.amazon_oauth import consent_url, seller_central_note
from renewbot.usecases.outside_renewal import NotAllowed, entry_for, start
from renewbot.usecases.renewal import RenewalOutcome, RenewalRequest, renew
from storage import deliveries
from storage.db import session_scope
from storage.models import DeliveryState

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access,
             refresher: home.HomeRefresher | None = None) -> None:
    @app.action(ids.TOKEN_SELECT)
    def _picked(ack, body, client):
        on_token_picked(ack=ack, body=body, client=client, deps=deps, lookups=lookups, access=access)

    @app.view(ids.RENEW_MODAL)
    def _submitted(ack, body, client):
        on_submit(ack=ack, body=body, client=client, deps=deps, lookups=lookups, access=access, refresher=refresher)
        lookups.invalidate()  # the form should show this renewal's flags at once

    # Link buttons (the private page, Amazon's consent): Slack opens the URL and still tells us; nothing to do.
    @app.action(ids.SECRET_LINK_BUTTON)
    def _opened_page(ack):
        ack()

    @app.action(ids.AUTHORIZE_BUTTON)
    def _opened_amazon(ack):
        ack()


def on_token_picked(*, ack, body: dict, client, deps: Deps, lookups: FormLookups, access: Access) -> None:
    ack()
    try:
        _update_for_pick(body=body, client=client, deps=deps, lookups=lookups, access=access)
    except Exception:
        logger.exception("updating the renewal form after a token pick failed")


def _update_for_pick(*, body: dict, client, deps: Deps, lookups: FormLookups, access: Access) -> None:
    view = dig(body, "view") or {}
    user_id = str(dig(body, "user", "id"))
    picked = token_ref(dig(body, "actions", 0, "selected_option", "value"))
    channel = ModalState.load(dig(view, "private_metadata")).channel
    token = lookups.token(picked) if picked else None
    # Picking is by id; a name that happens to equal another token's id must not select that one.
    token = token if token is not None and token.id == picked else None
    refusal = None
    if token is not None:
        decision = access.decide(user_id, token.owners, token.channel)
        if not decision.allowed:
            refusal, token = refusal_text(token, decision), None
    new_view = renew_modal(token=token, accounts=lookups.accounts(token.id) if token else [],
                           today=deps.clock().date(),
                           channel=channel, refusal=refusal, kind=lookups.kind(token.kind) if token else None,
                           paired=paired_of(token, engine=deps.engine),
                           entry=entry_for(token, deps.entry) if token else IN_FORM)
    client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=new_view)


def _reject(ack, errors: dict[str, str]) -> None:
    ack(response_action="errors", errors=errors)


def on_submit(*, ack, body: dict, client, deps: Deps, lookups: FormLookups, access: Access,
              refresher: home.HomeRefresher | None = None) -> None:
    """Validates and applies inside Slack's 3 s window, so errors land inline; Slack replies after the commit."""
    submitted = read_submission(body)
    if submitted is None:
        return _reject(ack, {ids.TOKEN_BLOCK: "Pick the token to renew."})
    with log_ids(token=submitted.state.token_id):  # on every line this submission logs (LOG_FORMAT=json)
        _apply(ack=ack, submitted=submitted, client=client, deps=deps, lookups=lookups, access=access,
               refresher=refresher)


def _apply(*, ack, submitted: SubmittedRenewal, client, deps: Deps, lookups: FormLookups, access: Access,
           refresher: home.HomeRefresher | None) -> None:
    form = submitted.form
    if form.large:  # accounts its no-fetch list did not show keep their flag: read them now, before renew()
        form = replace(form, no_fetch_now=lookups.no_fetch_ids(submitted.state.token_id))
    request = RenewalRequest(token_id=submitted.state.token_id, version=submitted.state.version,
                             user_id=submitted.user_id, form=form)
    refused: list[Decision] = []

    def may_act(owners) -> bool:
        # renew() reads the owners; the channel (for tokens without owners) is read now, not from a cache.
        decision = access.decide(submitted.user_id, owners, lookups.channel_now(request.token_id))
        if not decision.allowed:
            refused.append(decision)
        return decision.allowed

    token = lookups.token(request.token_id)
    if token is not None and token.id == request.token_id and (entry := entry_for(token, deps.entry)) != IN_FORM:
        return _start_outside(ack=ack, request=request, token=token, entry=entry, deps=deps, may_act=may_act,
                              refused=refused, channel=submitted.state.channel)
    try:
        outcome = renew(engine=deps.engine, box=deps.box, request=request, now=deps.clock(), may_act=may_act,
                        verifier=deps.verifier, metrics=deps.metrics)
    except RenewalRejected as exc:
        if refused:
            return _reject(ack, {ids.TOKEN_BLOCK: not_allowed_field_text(refused[-1].why)})
        return _reject(ack, exc.errors)
    except StaleRenewal as exc:
        return _reject(ack, {ids.SECRET_BLOCK: stale_text(exc.token_name)})
    except Exception:
        logger.exception("renewal of %s failed; nothing was changed", request.token_id)
        return _reject(ack, {ids.SECRET_BLOCK: "renewbot could not save this (nothing was changed). Try again."})
    with log_ids(renewal=outcome.renewal_id):
        # Logged before the ack: once acknowledged, the answer may reach Slack (and a test) before this line would.
        logger.info("token %s renewed by %s: %s -> %s (%s)", outcome.token_id, outcome.renewed_by,
                    outcome.old_expiry.date(), outcome.new_expiry.date(), outcome.verification or "not checked")
        ack()
        announce(client, outcome, deps=deps)
    if refresher is not None:
        refresher.after_renewal(client)  # after the commit and the ack; it runs on its own thread


def _start_outside(*, ack, request: RenewalRequest, token, entry: str, deps: Deps, may_act, refused: list[Decision],
                   channel: str | None) -> None:
    """The secret comes from outside Slack: the rest of the form is checked and kept, and the form turns into the
    link to where the secret is entered. The link's key is in that view only: never in a log line."""
    try:
        started = start(engine=deps.engine, kind=entry, request=request, may_act=may_act, now=deps.clock(),
                        thread_channel=channel)
    except NotAllowed:
        why = refused[-1].why if refused else "not_owner"
        return _reject(ack, {ids.TOKEN_BLOCK: not_allowed_field_text(why)})
    except RenewalRejected as exc:
        return _reject(ack, exc.errors)
    except Exception:
        logger.exception("renewal of %s could not be started; nothing was changed", request.token_id)
        return _reject(ack, {ids.TOKEN_BLOCK: "renewbot could not save this (nothing was changed). Try again."})
    if entry == WITH_AMAZON:
        view = authorize_view(consent_url(token=token, state=started.key, entry=deps.entry), started.token_name,
                              note=seller_central_note(token, deps.entry))
    else:
        view = secret_link_view(page_url(deps.entry.public_url, started.key), started.token_name,
                                started.kind.value_label, expires_at=started.pending.expires_at)
    logger.info("renewal of %s by %s waits for its secret (%s, until %s UTC)", request.token_id, request.user_id,
                entry, f"{started.pending.expires_at:%H:%M}")
    ack(response_action="update", view=view)


def announce(client, outcome: RenewalOutcome, *, deps: Deps) -> None:
    """After the commit: the thread reply (saying where the change goes next), and the notice edited to its
    resolved state. Where the reply went is stored on the delivery, for the job to answer in the same thread."""
    if outcome.delivery_id:
        deps.wake_connectors.set()  # the delivery job sends it now, not at its next tick
    text, blocks = confirmation_text(outcome), confirmation_blocks(outcome)
    if outcome.connector:
        text, blocks = text + on_its_way_text(outcome.connector), [*blocks, on_its_way_block(outcome.connector)]
    else:
        text, blocks = text + not_connected_text(), [
            *blocks, *not_connected_blocks(outcome.renewal_id, seen_by_person=outcome.via != AMAZON_VIA)]
    channel, root = outcome.thread or (outcome.channel, None)
    try:
        posted = client.chat_postMessage(channel=channel, thread_ts=root, text=text, blocks=blocks)
    except Exception:
        # The renewal is committed; a lost confirmation is logged, never a reason to undo it.
        logger.exception("renewal of %s saved, but the Slack confirmation failed", outcome.token_id)
        return
    if outcome.delivery_id:
        _remember_thread(client, deps, outcome.renewal_id, channel, root or posted["ts"], posted["ts"])
    if root is None:
        return
    try:
        client.chat_update(channel=channel, ts=root,
                           text=resolved_text(outcome.token_name, outcome.old_expiry, outcome.new_expiry),
                           blocks=resolved_blocks(outcome.token_name, outcome.renewed_by, outcome.old_expiry,
                                                  outcome.new_expiry))
    except Exception:
        logger.exception("renewal of %s saved and confirmed, but the notice could not be edited", outcome.token_id)


def _remember_thread(client, deps: Deps, renewal_id: int, channel: str, thread_ts: str, ts: str) -> None:
    """In its own short transaction; a delivery that finished before this was stored is answered from here."""
    try:
        with session_scope(deps.engine) as session:
            finished = deliveries.set_reply_place(session=session, renewal_id=renewal_id, channel=channel,
                                                  thread_ts=thread_ts, confirmation_ts=ts)
        # Again: on PostgreSQL a pass woken above may have skipped the row while this update held it locked.
        deps.wake_connectors.set()
        for row_id, state in finished:
            if state in (DeliveryState.DELIVERED, DeliveryState.FAILED):
                answer(engine=deps.engine, client=client, row_id=row_id, now=deps.clock())
    except Exception:
        logger.exception("renewal %s: could not record where it was confirmed", renewal_id)
