"""The buttons on a notice: Renew, Renewal steps, Open settings."""

from __future__ import annotations

import logging

from slack_bolt import App

import ids
from blocks.messages import failure_text, unknown_token_text
from blocks.runbook import runbook_blocks, runbook_text
from deps import Deps
from handlers.lookups import FormLookups
from handlers.opening import open_renew_modal
from handlers.payload import dig, token_ref
from storage import queries
from storage.db import session_scope

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups) -> None:
    @app.action(ids.RENEW_BUTTON)
    def _renew(ack, body, client):
        on_renew_click(ack=ack, body=body, client=client, deps=deps, lookups=lookups)

    @app.action(ids.STEPS_BUTTON)
    def _steps(ack, body, client):
        on_steps_click(ack=ack, body=body, client=client, deps=deps)

    @app.action(ids.SETTINGS_BUTTON)
    def _settings(ack):
        ack()  # a link button: Slack opens the URL, we only acknowledge the click


def _clicked(body: dict) -> tuple[str | None, str, str, str | None]:
    channel = dig(body, "channel", "id") or dig(body, "container", "channel_id")
    thread = (dig(body, "message", "thread_ts") or dig(body, "message", "ts")
              or dig(body, "container", "message_ts"))
    return (token_ref(dig(body, "actions", 0, "value")), str(dig(body, "user", "id")), str(channel),
            thread if isinstance(thread, str) else None)


def on_renew_click(*, ack, body: dict, client, deps: Deps, lookups: FormLookups) -> None:
    ack()
    token_id, user_id, channel, _ = _clicked(body)

    def tell(text: str) -> None:
        client.chat_postEphemeral(channel=channel, user=user_id, text=text)

    try:
        if token_id is None:
            tell(unknown_token_text("(unreadable)", []))
            return
        open_renew_modal(deps=deps, lookups=lookups, client=client, user_id=user_id, trigger_id=str(dig(body, "trigger_id")),
                         token_ref=token_id, channel=channel, tell=tell)
    except Exception:
        logger.exception("Renew button failed")
        tell(failure_text())


def on_steps_click(*, ack, body: dict, client, deps: Deps) -> None:
    ack()
    token_id, user_id, channel, thread = _clicked(body)
    try:
        with session_scope(deps.engine) as session:
            token = queries.get_token(session=session, token_id=token_id) if token_id else None
        if token is None:
            client.chat_postEphemeral(channel=channel, user=user_id, text="That token no longer exists.")
            return
        client.chat_postMessage(channel=channel, thread_ts=thread, text=runbook_text(token),
                                blocks=runbook_blocks(token), unfurl_links=False)
    except Exception:
        logger.exception("Renewal steps button failed")
        client.chat_postEphemeral(channel=channel, user=user_id, text=failure_text())
