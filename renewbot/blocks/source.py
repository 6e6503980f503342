"""Messages for a renewal seen at the token's source (tls://host:port), done outside renewbot. Pure builders."""

from __future__ import annotations

from datetime import datetime

from renewbot.blocks.common import MAX_SECTION_TEXT, clip, context, escape, section, slack_date, ymd
from renewbot.blocks.notice import resolved_blocks, resolved_text

SCHEME = "tls://"
OUTSIDE = "outside renewbot"


def where_seen(source: str) -> str:
    """host:port, as people write it: "shop.example:443"."""
    return escape(source[len(SCHEME):] if source.startswith(SCHEME) else source)


def source_renewed_text(token_name: str, old_expiry: datetime, new_expiry: datetime, source: str) -> str:
    """The thread reply's fallback: names the token and both dates."""
    return (f"{escape(token_name)} renewed outside renewbot: {ymd(old_expiry)} → {ymd(new_expiry)}, "
            f"seen on {where_seen(source)}")


def source_renewed_blocks(token_name: str, old_expiry: datetime, new_expiry: datetime, source: str) -> list[dict]:
    """The reply in the notice's thread."""
    line = (f":white_check_mark: *{clip(escape(token_name), 500)}* renewed outside renewbot: "
            f"{ymd(old_expiry)} → *{ymd(new_expiry)}* ({slack_date(new_expiry)}), seen on `{where_seen(source)}`.")
    return [section(clip(line, MAX_SECTION_TEXT)),
            context("renewbot · read from the certificate served there · nothing to do here")]


def source_resolved_text(token_name: str, old_expiry: datetime, new_expiry: datetime) -> str:
    """The edited notice's fallback."""
    return resolved_text(token_name, old_expiry, new_expiry, how=OUTSIDE)


def source_resolved_blocks(token_name: str, old_expiry: datetime, new_expiry: datetime, source: str) -> list[dict]:
    """The notice, edited in place: resolved, with no buttons left to press."""
    return resolved_blocks(token_name, None, old_expiry, new_expiry, how=OUTSIDE,
                           after=f", seen on `{where_seen(source)}`")
