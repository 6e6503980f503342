"""The buttons on a notice: Renew, Renewal steps, Open settings."""

from __future__ import annotations

import logging

from slack_bolt import App

from handlers.access import Access
from handlers.home import send_dm
from handlers.lookups import FormLookups
from handlers.opening import open_renew_modal
from handlers.payload import clicked_in_home, dig, read_click
from renewbot.blocks import ids
from renewbot.blocks.messages import failure_text, unknown_token_text
from renewbot.blocks.runbook import runbook_blocks, runbook_text
from renewbot.runtime.deps import Deps
from renewbot.usecases.amazon import paired_of

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    @app.action(ids.RENEW_BUTTON)
    def _renew(ack, body, client):
        on_renew_click(ack=ack, body=body, client=client, deps=deps, lookups=lookups, access=access)

    @app.action(ids.STEPS_BUTTON)
    def _steps(ack, body, client):
        on_steps_click(ack=ack, body=body, client=client, deps=deps, lookups=lookups)

    @app.action(ids.SETTINGS_BUTTON)
    def _settings(ack):
        ack()  # a link button: Slack opens the URL, we only acknowledge the click


def on_renew_click(*, ack, body: dict, client, deps: Deps, lookups: FormLookups, access: Access) -> None:
    ack()
    token_id, user_id, channel, _ = read_click(body)
    home = clicked_in_home(body)
    channel = None if home else channel

    def tell(text: str) -> None:
        if home:  # the Home tab has no channel for an ephemeral message
            send_dm(client, user_id, text)
        else:
            client.chat_postEphemeral(channel=channel, user=user_id, text=text)

    try:
        if token_id is None:
            tell(unknown_token_text("(unreadable)", []))
            return
        open_renew_modal(deps=deps, lookups=lookups, access=access, client=client, user_id=user_id,
                         trigger_id=str(dig(body, "trigger_id")), token_ref=token_id, channel=channel, tell=tell)
    except Exception:
        logger.exception("Renew button failed")
        tell(failure_text())


def on_steps_click(*, ack, body: dict, client, deps: Deps, lookups: FormLookups) -> None:
    ack()
    token_id, user_id, channel, thread = read_click(body)
    try:
        token = lookups.token(token_id) if token_id else None
        if token is None or token.id != token_id:
            client.chat_postEphemeral(channel=channel, user=user_id, text="That token no longer exists.")
            return
        client.chat_postMessage(channel=channel, thread_ts=thread, text=runbook_text(token),
                                blocks=runbook_blocks(token, lookups.kind(token.kind),
                                                      paired=paired_of(token, engine=deps.engine)),
                                unfurl_links=False)
    except Exception:
        logger.exception("Renewal steps button failed")
        client.chat_postEphemeral(channel=channel, user=user_id, text=failure_text())
