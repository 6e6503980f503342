"""The renewal form turned into Amazon's authorization link (SP-API renewed through Amazon's consent page).

It replaces the submitted form (`response_action: update`): a view submission has no response_url, and an
ephemeral message fails in DMs and in channels the bot is not in. The link carries a one-time state, so the
view says whose it is and for how long; nothing is saved until Amazon sends the person back to renewbot.
"""

from __future__ import annotations

from renewbot.blocks import ids
from renewbot.blocks.common import MAX_HEADER_TEXT, button, context, escape, plain, section
from renewbot.usecases.pending import AMAZON_TTL

STATE_MINUTES = int(AMAZON_TTL.total_seconds() // 60)

BUTTON_TEXT = "Authorize with Amazon"
MAX_URL = 3000  # Slack's limit for a button's url


def authorize_view(url: str, token_name: str, *, note: str | None = None) -> dict:
    """The modal with the consent link for `token_name`; `note` (amazon_oauth.seller_central_note) when the link's
    Seller Central was assumed rather than known."""
    if len(url) > MAX_URL:
        raise ValueError("the consent URL is longer than Slack allows for a link button")
    name = escape(token_name)
    blocks: list[dict] = [
        {"type": "header", "text": plain(f"Authorize {token_name} with Amazon", MAX_HEADER_TEXT)},
        section("1. *Log out of every other Amazon seller account first* (or use a private browser window): "
                "Amazon authorizes whichever seller you are signed in as.\n"
                f"2. Press *{BUTTON_TEXT}*, sign in to Seller Central as the seller of *{name}*, and confirm.\n"
                "3. Amazon sends you back to renewbot, which stores the new authorization and confirms in the "
                "notice's thread."),
        {"type": "actions", "block_id": ids.AUTHORIZE_VIEW,
         "elements": [button(BUTTON_TEXT, ids.AUTHORIZE_BUTTON, url=url, style="primary")]},
        context(f"This link is for you only and works once, for {STATE_MINUTES} minutes. Nothing is saved until "
                "Amazon sends you back; closing this changes nothing. The refresh token goes from Amazon to renewbot "
                "directly: Slack never sees it."),
    ]
    if note:
        blocks.append(context(escape(note)))
    return {
        "type": "modal",
        "callback_id": ids.AUTHORIZE_VIEW,
        "title": plain("Renew token", 24),
        "close": plain("Done", 24),
        "blocks": blocks,
    }
