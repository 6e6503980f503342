"""Attention on a notice: "I'm on it", Snooze, Mute (its form) and Unmute. Owners only, like Renew.

Each click is acknowledged first, then the use case commits, then the notice messages are edited to show
who did what (never a Slack call while a transaction is open). Refusals are ephemeral, in the notice's channel;
the mute form's are inline. Log lines carry the token's id (LOG_FORMAT=json).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from slack_bolt import App

from handlers.access import Access
from handlers.attention_payload import AttentionClick, read_attention_click, read_mute_submission
from handlers.lookups import FormLookups
from handlers.opening import refusal_text
from renewbot.blocks import ids
from renewbot.blocks.attention import mute_modal
from renewbot.blocks.messages import failure_text, not_allowed_field_text
from renewbot.blocks.notice import notice_blocks, notice_text
from renewbot.runtime.deps import Deps
from renewbot.runtime.log_context import log_ids
from renewbot.usecases import attention
from renewbot.usecases.attention import REASON_FIELD, TEXT_FIELD, AttentionOutcome, AttentionRefused, MuteRejected

logger = logging.getLogger(__name__)

UNREADABLE = "renewbot could not tell which notice this is: nothing was changed."
FORM_FIELDS = {REASON_FIELD: ids.MUTE_REASON_BLOCK, TEXT_FIELD: ids.MUTE_TEXT_BLOCK}


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    def decider(user_id: str):
        return lambda owners, channel: access.decide(user_id, owners, channel)

    def acknowledge(click: AttentionClick) -> AttentionOutcome:
        return attention.acknowledge(engine=deps.engine, ref=click.ref, user_id=click.user_id, now=deps.clock(),
                                     decide=decider(click.user_id))

    def snooze(click: AttentionClick) -> AttentionOutcome:
        return attention.snooze(engine=deps.engine, ref=click.ref, user_id=click.user_id, days=click.days,
                                now=deps.clock(), decide=decider(click.user_id))

    def unmute(click: AttentionClick) -> AttentionOutcome:
        return attention.unmute(engine=deps.engine, ref=click.ref, user_id=click.user_id, now=deps.clock(),
                                decide=decider(click.user_id))

    @app.action(ids.ACK_BUTTON)
    def _ack(ack, body, client):
        on_click(ack=ack, body=body, client=client, deps=deps, act=acknowledge)

    @app.action(ids.SNOOZE_SELECT)
    def _snooze(ack, body, client):
        on_click(ack=ack, body=body, client=client, deps=deps, act=snooze)

    @app.action(ids.UNMUTE_BUTTON)
    def _unmute(ack, body, client):
        on_click(ack=ack, body=body, client=client, deps=deps, act=unmute)

    @app.action(ids.MUTE_BUTTON)
    def _mute(ack, body, client):
        on_mute_click(ack=ack, body=body, client=client, deps=deps, decider=decider)

    @app.view(ids.MUTE_MODAL)
    def _mute_submitted(ack, body, client):
        on_mute_submit(ack=ack, body=body, client=client, deps=deps, decider=decider)


def _refusal(exc: AttentionRefused) -> str:
    return refusal_text(exc.token, exc.decision) if exc.decision is not None else exc.text


def _teller(client, click: AttentionClick) -> Callable[[str], None]:
    def tell(text: str) -> None:
        if click.channel:
            client.chat_postEphemeral(channel=click.channel, user=click.user_id, text=text)
    return tell


def on_click(*, ack, body: dict, client, deps: Deps, act: Callable[[AttentionClick], AttentionOutcome]) -> None:
    ack()
    click = read_attention_click(body)
    tell = _teller(client, click)
    with log_ids(token=click.ref.token_id if click.ref else None):
        try:
            if click.ref is None:
                return tell(UNREADABLE)
            try:
                outcome = act(click)
            except AttentionRefused as exc:
                return tell(_refusal(exc))
            edit_notices(client, outcome, deps.clock())
        except Exception:
            logger.exception("a notice's attention control failed")
            tell(failure_text())


def on_mute_click(*, ack, body: dict, client, deps: Deps, decider) -> None:
    ack()
    click = read_attention_click(body)
    tell = _teller(client, click)
    with log_ids(token=click.ref.token_id if click.ref else None):
        try:
            if click.ref is None or click.trigger_id is None:
                return tell(UNREADABLE)
            try:
                token = attention.check_mute(engine=deps.engine, ref=click.ref, decide=decider(click.user_id))
            except AttentionRefused as exc:
                return tell(_refusal(exc))
            client.views_open(trigger_id=click.trigger_id, view=mute_modal(token, click.ref.stage))
        except Exception:
            logger.exception("opening the mute form failed")
            tell(failure_text())


def on_mute_submit(*, ack, body: dict, client, deps: Deps, decider) -> None:
    """Validated and applied inside Slack's window, so a problem shows under its field; edits after the commit."""
    submitted = read_mute_submission(body)
    if submitted.ref is None:
        return ack(response_action="errors", errors={ids.MUTE_REASON_BLOCK: UNREADABLE})
    with log_ids(token=submitted.ref.token_id):
        try:
            reason = attention.validate_mute(submitted.reason, submitted.text)
            outcome = attention.mute(engine=deps.engine, ref=submitted.ref, user_id=submitted.user_id,
                                     reason=reason, now=deps.clock(), decide=decider(submitted.user_id))
        except MuteRejected as exc:
            return ack(response_action="errors", errors={FORM_FIELDS[k]: v for k, v in exc.errors.items()})
        except AttentionRefused as exc:
            why = not_allowed_field_text(exc.decision.why) if exc.decision is not None else exc.plain
            return ack(response_action="errors", errors={ids.MUTE_REASON_BLOCK: why})
        except Exception:
            logger.exception("muting token %s failed; nothing was changed", submitted.ref.token_id)
            return ack(response_action="errors", errors={
                ids.MUTE_REASON_BLOCK: "renewbot could not save this (nothing was changed). Try again."})
        ack()
        edit_notices(client, outcome, deps.clock())


def edit_notices(client, outcome: AttentionOutcome, now: datetime) -> None:
    """After the commit: every message about the token's current expiry shows the new state. A message Slack will
    not edit is logged and left; what is stored decides what happens next either way."""
    token = outcome.token
    for shown in outcome.edits:
        try:
            client.chat_update(channel=shown.channel, ts=shown.ts, text=notice_text(token, shown.stage, now),
                               blocks=notice_blocks(token, outcome.accounts, shown.stage, now, outcome.kind,
                                                    shown.attention))
        except Exception:
            logger.exception("could not edit notice %s in %s to show its attention state", shown.ts, shown.channel)
