"""The "Done in the platform" button on a renewal confirmation whose token has no connector.

Only the token's owners may press it (the same rule as Renew). The first press is recorded, for good; the
confirmation is edited to show who confirmed it, and the button goes.
"""

from __future__ import annotations

import logging

from slack_bolt import App

from handlers.access import Access
from handlers.payload import dig
from renewbot.blocks import ids
from renewbot.blocks.messages import failure_text, not_allowed_text
from renewbot.blocks.platform import confirmed_blocks
from renewbot.runtime.deps import Deps
from storage import deliveries
from storage.db import session_scope
from storage.models import Renewal, Token

logger = logging.getLogger(__name__)
MAX_ID_DIGITS = 18


def register(app: App, *, deps: Deps, access: Access) -> None:
    @app.action(ids.PLATFORM_DONE_BUTTON)
    def _done(ack, body, client):
        on_done_click(ack=ack, body=body, client=client, deps=deps, access=access)


def _renewal_id(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and \
        len(value) <= MAX_ID_DIGITS else None


def on_done_click(*, ack, body: dict, client, deps: Deps, access: Access) -> None:
    ack()
    user_id = str(dig(body, "user", "id"))
    channel = dig(body, "channel", "id") or dig(body, "container", "channel_id")
    message = dig(body, "message") or {}
    renewal_id = _renewal_id(dig(body, "actions", 0, "value"))

    def tell(text: str) -> None:
        client.chat_postEphemeral(channel=str(channel), user=user_id, text=text)

    try:
        with session_scope(deps.engine) as session:
            renewal = session.get(Renewal, renewal_id) if renewal_id is not None else None
            token = session.get(Token, renewal.token_id) if renewal is not None else None
        if token is None:
            tell("That renewal is no longer on record.")
            return
        decision = access.decide(user_id, token.owners, token.channel)  # a Slack call: no transaction open
        if not decision.allowed:
            tell(not_allowed_text(token.name, token.owners, why=decision.why, channel=decision.channel))
            return
        with session_scope(deps.engine) as session:
            confirmation = deliveries.confirm_by_hand(session=session, renewal_id=renewal.id, user_id=user_id,
                                                      now=deps.clock())
        logger.info("renewal %s of %s: done in the platform, confirmed by %s", renewal.id, token.id,
                    confirmation.confirmed_by)
        blocks = message.get("blocks") if isinstance(message, dict) else None
        ts = message.get("ts") if isinstance(message, dict) else None
        if isinstance(blocks, list) and isinstance(ts, str) and all(isinstance(b, dict) for b in blocks):
            client.chat_update(channel=str(channel), ts=ts, text=str(message.get("text") or token.name),
                               blocks=confirmed_blocks(blocks, confirmation.confirmed_by, confirmation.confirmed_at))
    except Exception:
        logger.exception("Done in the platform button failed")
        tell(failure_text())
