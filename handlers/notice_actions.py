"""The buttons on a notice: Renew, Renewal steps, Open settings."""

from __future__ import annotations

import logging

from slack_bolt import App

import ids
from blocks.messages import failure_text
from blocks.runbook import runbook_blocks, runbook_text
from deps import Deps
from handlers.opening import open_renew_modal
from storage import queries
from storage.db import session_scope

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps) -> None:
    @app.action(ids.RENEW_BUTTON)
    def _renew(ack, body, client):
        on_renew_click(ack=ack, body=body, client=client, deps=deps)

    @app.action(ids.STEPS_BUTTON)
    def _steps(ack, body, client):
        on_steps_click(ack=ack, body=body, client=client, deps=deps)

    @app.action(ids.SETTINGS_BUTTON)
    def _settings(ack):
        ack()  # a link button: Slack opens the URL, we only acknowledge the click


def _clicked(body: dict) -> tuple[str, str, str, str | None]:
    action = (body.get("actions") or [{}])[0]
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    message = body.get("message") or {}
    thread = message.get("thread_ts") or message.get("ts") or (body.get("container") or {}).get("message_ts")
    return str(action.get("value") or ""), body["user"]["id"], channel, thread


def on_renew_click(*, ack, body: dict, client, deps: Deps) -> None:
    ack()
    token_id, user_id, channel, _ = _clicked(body)

    def tell(text: str) -> None:
        client.chat_postEphemeral(channel=channel, user=user_id, text=text)

    try:
        open_renew_modal(deps=deps, client=client, user_id=user_id, trigger_id=body["trigger_id"],
                         token_ref=token_id or None, channel=channel, tell=tell)
    except Exception:
        logger.exception("Renew button failed")
        tell(failure_text())


def on_steps_click(*, ack, body: dict, client, deps: Deps) -> None:
    ack()
    token_id, user_id, channel, thread = _clicked(body)
    try:
        with session_scope(deps.engine) as session:
            token = queries.get_token(session=session, token_id=token_id)
        if token is None:
            client.chat_postEphemeral(channel=channel, user=user_id, text="That token no longer exists.")
            return
        client.chat_postMessage(channel=channel, thread_ts=thread, text=runbook_text(token),
                                blocks=runbook_blocks(token), unfurl_links=False)
    except Exception:
        logger.exception("Renewal steps button failed")
        client.chat_postEphemeral(channel=channel, user=user_id, text=failure_text())
