"""The renewal form turned into the private page's one-time link (SECRET_ENTRY=page).

It replaces the submitted form (`response_action: update`): a view submission has no response_url, and an
ephemeral message fails in DMs and in channels the bot is not in. Slack sees this link, never the secret: the
link alone changes nothing (opening it saves nothing; only the page's form, submitted, does).
"""

from __future__ import annotations

from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.common import MAX_HEADER_TEXT, button, context, escape, link_target, plain, section
from renewbot.usecases.pending import PAGE_TTL

BUTTON_TEXT = "Open the private page"
MAX_URL = 3000  # Slack's limit for a button's url
PAGE_PATH = "/renew/"


def page_url(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}{PAGE_PATH}{key}"


def secret_link_view(url: str, token_name: str, value_label: str, *, expires_at: datetime) -> dict:
    """The modal with the one-time link to enter `token_name`'s new `value_label` outside Slack."""
    if len(url) > MAX_URL:
        raise ValueError("the page URL is longer than Slack allows for a link button")
    minutes = int(PAGE_TTL.total_seconds() // 60)
    return {
        "type": "modal",
        "callback_id": ids.SECRET_LINK_VIEW,
        "title": plain("Renew token", 24),
        "close": plain("Done", 24),
        "blocks": [
            {"type": "header", "text": plain(f"Enter the new {value_label} on a private page", MAX_HEADER_TEXT)},
            section(f"Your choices for *{escape(token_name)}* are kept. Open the page, paste the new "
                    f"{escape(value_label)} there and submit it: renewbot then renews the token and confirms in the "
                    "notice's thread."),
            {"type": "actions", "block_id": ids.SECRET_LINK_VIEW,
             "elements": [button(BUTTON_TEXT, ids.SECRET_LINK_BUTTON, url=url, style="primary")]},
            section(f"Or copy the link: <{link_target(url)}|{escape(url)}>"),
            context(f"For you only, and valid {minutes} minutes (until {expires_at:%H:%M} UTC). Nothing is saved "
                    f"until you submit the page; closing this changes nothing. The {escape(value_label)} goes from "
                    "your browser to renewbot directly: Slack never sees it."),
        ],
    }
