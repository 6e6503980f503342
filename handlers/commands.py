"""/renew-token [token id or name]."""

from __future__ import annotations

import logging

from slack_bolt import App

from handlers.access import Access
from handlers.lookups import FormLookups
from handlers.opening import open_renew_modal
from handlers.payload import token_ref
from renewbot.blocks import ids
from renewbot.blocks.messages import failure_text, unknown_token_text
from renewbot.runtime.deps import Deps

logger = logging.getLogger(__name__)


def register(app: App, *, deps: Deps, lookups: FormLookups, access: Access) -> None:
    @app.command(ids.RENEW_COMMAND)
    def _renew(ack, command, client, respond):
        on_renew_command(ack=ack, command=command, client=client, respond=respond, deps=deps, lookups=lookups,
                         access=access)


def on_renew_command(*, ack, command: dict, client, respond, deps: Deps, lookups: FormLookups,
                     access: Access) -> None:
    ack()
    raw = command.get("text") if isinstance(command.get("text"), str) else ""
    ref = token_ref(raw, typed=True)

    def tell(text: str) -> None:
        respond(text=text, response_type="ephemeral")

    try:
        if raw.strip() and ref is None:  # too long, or control characters: it names no token
            tell(unknown_token_text(raw.strip()[:100], []))
            return
        open_renew_modal(deps=deps, lookups=lookups, access=access, client=client, user_id=command["user_id"],
                         trigger_id=command["trigger_id"], token_ref=ref, channel=command.get("channel_id"), tell=tell)
    except Exception:
        logger.exception("/renew-token failed")
        tell(failure_text())
