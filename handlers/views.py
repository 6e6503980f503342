"""The renewal modal's interactions: picking a token, and submitting."""

from __future__ import annotations

import logging

from slack_bolt import App

import ids
from blocks.messages import confirmation_blocks, confirmation_text, not_allowed_text, stale_text
from blocks.modal import ModalState, renew_modal
from blocks.notice import resolved_blocks, resolved_text
from deps import Deps
from errors import RenewalRejected, StaleRenewal
from handlers.lookups import FormLookups
from handlers.owners import may_renew
from handlers.payload import dig, token_ref
from renewal import RenewalOutcome, apply_renewal
from storage import queries
from storage.db import session_scope
from validation import parse_submission

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups) -> None:
    @app.action(ids.TOKEN_SELECT)
    def _picked(ack, body, client):
        on_token_picked(ack=ack, body=body, client=client, deps=deps)

    @app.view(ids.RENEW_MODAL)
    def _submitted(ack, body, client):
        on_submit(ack=ack, body=body, client=client, deps=deps)
        lookups.invalidate()  # the form should show this renewal's flags at once


def on_token_picked(*, ack, body: dict, client, deps: Deps) -> None:
    ack()
    try:
        _update_for_pick(body=body, client=client, deps=deps)
    except Exception:
        logger.exception("updating the renewal form after a token pick failed")


def _update_for_pick(*, body: dict, client, deps: Deps) -> None:
    view = dig(body, "view") or {}
    token_id = token_ref(dig(body, "actions", 0, "selected_option", "value"))
    previous = ModalState.load(dig(view, "private_metadata"))
    with session_scope(deps.engine) as session:
        choices = queries.token_names(session=session)
        token = queries.get_token(session=session, token_id=token_id) if token_id else None
        accounts = queries.token_accounts(session=session, token_id=token.id) if token else []
    new_view = renew_modal(token=token, accounts=accounts, choices=choices, today=deps.clock().date(),
                           channel=previous.channel)
    if token is not None and not may_renew(client, token.owners, str(dig(body, "user", "id"))):
        new_view = renew_modal(token=None, accounts=[], choices=choices, today=deps.clock().date(),
                               channel=previous.channel)
        new_view["blocks"].append({"type": "section", "text": {"type": "mrkdwn",
                                   "text": not_allowed_text(token.name, token.owners)}})
    client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=new_view)


def _reject(ack, errors: dict[str, str]) -> None:
    ack(response_action="errors", errors=errors)


def on_submit(*, ack, body: dict, client, deps: Deps) -> None:
    """Validates and applies inside Slack's 3 s window (database work only), so errors land inline."""
    values = dig(body, "view", "state", "values")
    values = values if isinstance(values, dict) else {}
    user_id = dig(body, "user", "id")
    state = ModalState.load(dig(body, "view", "private_metadata"))
    block = values.get(ids.TOKEN_BLOCK)
    action = block.get(ids.TOKEN_SELECT) if isinstance(block, dict) else None
    malformed = (block is not None and not isinstance(block, dict)) or (
        isinstance(block, dict) and ids.TOKEN_SELECT in block and not isinstance(action, dict))
    picked = action.get("selected_option") if isinstance(action, dict) else None
    if (state.token_id is None or not isinstance(user_id, str) or malformed
            or (picked and dig(picked, "value") != state.token_id)):
        return _reject(ack, {ids.TOKEN_BLOCK: "Pick the token to renew."})
    now = deps.clock()
    token_name = state.token_id  # for messages after a rollback has expired the row
    try:
        with session_scope(deps.engine) as session:
            token = queries.get_token(session=session, token_id=state.token_id)
            if token is None:
                return _reject(ack, {ids.TOKEN_BLOCK: "This token no longer exists."})
            token_name = token.name
            if not may_renew(client, token.owners, user_id):
                return _reject(ack, {ids.TOKEN_BLOCK: "Only this token's owners can renew it."})
            accounts = queries.token_accounts(session=session, token_id=token.id)
            submission = parse_submission(values, token_id=token.id, version=state.version, kind=token.kind,
                                          current_expiry=token.expires_at, accounts=accounts, now=now)
            outcome = apply_renewal(session=session, box=deps.box, submission=submission, user_id=user_id, now=now)
    except RenewalRejected as exc:
        return _reject(ack, exc.errors)
    except StaleRenewal:
        return _reject(ack, {ids.SECRET_BLOCK: stale_text(token_name)})
    except Exception:
        logger.exception("renewal of %s failed; nothing was changed", state.token_id)
        return _reject(ack, {ids.SECRET_BLOCK: "renewbot could not save this (nothing was changed). Try again."})
    ack()
    logger.info("token %s renewed by %s: %s -> %s", outcome.token_id, user_id,
                outcome.old_expiry.date(), outcome.new_expiry.date())
    announce(client, outcome)


def announce(client, outcome: RenewalOutcome) -> None:
    """After the commit: the thread reply, and the notice edited to its resolved state."""
    text, blocks = confirmation_text(outcome), confirmation_blocks(outcome)
    try:
        if outcome.thread is None:
            client.chat_postMessage(channel=outcome.channel, text=text, blocks=blocks)
            return
        channel, root = outcome.thread
        client.chat_postMessage(channel=channel, thread_ts=root, text=text, blocks=blocks)
        client.chat_update(channel=channel, ts=root,
                           text=resolved_text(outcome.token_name, outcome.old_expiry, outcome.new_expiry),
                           blocks=resolved_blocks(outcome.token_name, outcome.renewed_by, outcome.old_expiry,
                                                  outcome.new_expiry))
    except Exception:
        # The renewal is committed; a lost confirmation is logged, never a reason to undo it.
        logger.exception("renewal of %s saved, but the Slack confirmation failed", outcome.token_id)
