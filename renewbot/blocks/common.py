"""Small helpers shared by the builders: Slack's limits, dates, mrkdwn escaping, mentions, options."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import quote

from renewbot.domain.thresholds import UNKNOWN_EXPIRY

# Slack's documented limits that our content can reach.
MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_MODAL = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTIONS_SELECT = 100
MAX_OPTIONS_CHECKBOXES = 10
MAX_CONTEXT_TEXT = 2000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Names come from an import file: keep them from turning into mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_target(url: str) -> str:
    """A URL safe inside <url|label>: characters that would end or split the link are encoded."""
    return escape(quote(url, safe=":/?#[]@!$&'()*+,;=%~-._"))


def ymd(moment: datetime | date) -> str:
    """The day; "unknown" for the placeholder of a source token not read yet (its first renewal says old → new)."""
    return "unknown" if moment == UNKNOWN_EXPIRY else moment.strftime("%Y-%m-%d")


def slack_date(moment: datetime) -> str:
    """Shown in each reader's own time zone; the fallback is the plain UTC date."""
    return f"<!date^{int(moment.timestamp())}^{{date_long_pretty}} at {{time}}|{ymd(moment)} {moment:%H:%M} UTC>"


def mention(owner_id: str) -> str:
    """An owner as Slack mentions it: <!subteam^S…> for a user group, <@U…> for a person."""
    return f"<!subteam^{owner_id}>" if owner_id.startswith("S") else f"<@{owner_id}>"


def option(text: str, value: str) -> dict:
    """One option of a select or checkbox group, its text cut to Slack's limit."""
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str) -> dict:
    return {"type": "section", "text": mrkdwn(clip(text, MAX_SECTION_TEXT))}


def context(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(clip(text, MAX_CONTEXT_TEXT))]}


def button(text: str, action_id: str, *, value: str | None = None, url: str | None = None,
           style: str | None = None) -> dict:
    el: dict = {"type": "button", "text": plain(text, MAX_BUTTON_TEXT), "action_id": action_id}
    if value is not None:
        el["value"] = value
    if url is not None:
        el["url"] = url
    if style is not None:
        el["style"] = style
    return el
