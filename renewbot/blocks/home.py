"""The Home tab and the `/renew-token list` message: every token a person sees, most urgent first.

One section per token (its Renew button as the accessory), under a header per group. Past Slack's block limit
(100 in a view, 50 in a message) the most urgent rows are shown and a last line says how many are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.attention import attention_lines
from renewbot.blocks.common import (
    MAX_BLOCKS_MESSAGE,
    MAX_BLOCKS_MODAL,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    button,
    clip,
    context,
    escape,
    link_target,
    plain,
    section,
    slack_date,
    ymd,
)
from renewbot.blocks.notice import accounts_text  # the notice's wording of account states
from renewbot.domain.patterns import OWNER_WILDCARD, is_channel_id
from renewbot.domain.thresholds import describe_days_left
from renewbot.usecases.overview import DUE, EXPIRED, FINE, SCOPE_NAMED, Entry, Overview

HOME_BLOCKS = MAX_BLOCKS_MODAL  # Slack's limit for a view, the Home tab's included
LIST_BLOCKS = MAX_BLOCKS_MESSAGE
ACCOUNTS_SHOWN = 5  # per row; the rest are counted, so a row stays short whatever a token serves
OWNERS_SHOWN = 10
NOT_SHOWN_HINT = "run `/renew-token list` or `renewbot status`"

GROUP_TITLES = {EXPIRED: ":rotating_light: Expired", DUE: ":hourglass_flowing_sand: Due",
                FINE: ":white_check_mark: Fine"}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def owners_text(owners: Sequence[str], channel: str) -> str:
    named = [o for o in owners if o != OWNER_WILDCARD]
    parts = [f"<!subteam^{o}>" if o.startswith("S") else f"<@{o}>" for o in named[:OWNERS_SHOWN]]
    if len(named) > OWNERS_SHOWN:
        parts.append(f"{len(named) - OWNERS_SHOWN} more")
    if OWNER_WILDCARD in owners:
        parts.append("any full member")
    if not owners:
        parts.append(f"members of <#{channel}>" if is_channel_id(channel) else "members of its channel")
    return ", ".join(parts)


def _accounts(entry: Entry) -> str:
    shown = accounts_text(entry.accounts[:ACCOUNTS_SHOWN])
    more = len(entry.accounts) - ACCOUNTS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _when(entry: Entry, now: datetime) -> str:
    line = entry.line
    if not line.expiry_known:
        return "Expiry unknown (its source was not read yet)"
    verb = "Expired" if line.expires_at <= now else "Expires"
    return f"{verb} {slack_date(line.expires_at)} · *{describe_days_left(line.expires_at, now)}*"


def row_text(entry: Entry, now: datetime) -> str:
    line = entry.line
    title = f"*{clip(escape(line.name), 200)}* · {escape(clip(entry.kind_label, 100))}"
    if entry.permalink:
        title += f" · <{link_target(entry.permalink)}|open notice>"
    attention = "".join(f"\n{text}" for text in attention_lines(entry.attention))
    return clip(f"{title}\n{_when(entry, now)}\n"
                f"Owners: {owners_text(line.owners, line.channel)} · Accounts: {_accounts(entry)}{attention}",
                MAX_SECTION_TEXT)


def row_block(entry: Entry, now: datetime) -> dict:
    return {**section(row_text(entry, now)), "block_id": clip(ids.HOME_BLOCK_PREFIX + entry.line.id, 255),
            "accessory": button("Renew", ids.HOME_RENEW_BUTTON, value=entry.line.id,
                                style="primary" if entry.group != FINE else None)}


def not_shown_text(count: int) -> str:
    return f"{_plural(count, 'more token')} not shown: {NOT_SHOWN_HINT}"


def _rows(overview: Overview, now: datetime, room: int) -> list[dict]:
    """Group headers and rows, most urgent first, in at most `room` blocks, the "not shown" line included."""
    blocks: list[dict] = []
    group = None
    shown = 0
    for entry in overview.entries:
        need = 1 + (entry.group != group)
        after = overview.total - shown - 1  # tokens left once this one is shown: they need the last line
        if len(blocks) + need + (after > 0) > room:
            break
        if entry.group != group:
            group = entry.group
            blocks.append({"type": "header", "text": plain(
                f"{GROUP_TITLES[group]} ({overview.counts.get(group, 0):,})", MAX_HEADER_TEXT)})
        blocks.append(row_block(entry, now))
        shown += 1
    if overview.total > shown:
        blocks.append(context(not_shown_text(overview.total - shown)))
    return blocks


def _summary(overview: Overview, now: datetime) -> str:
    counts = " · ".join(f"{overview.counts.get(g, 0):,} {g}" for g in (EXPIRED, DUE, FINE))
    who = ("tokens that name you or a user group you are in" if overview.scope == SCOPE_NAMED
           else "tokens that name you or a user group you are in, and tokens of channels you are in")
    return (f"{counts} · updated <!date^{int(now.timestamp())}^{{date_short_pretty}} at {{time}}|"
            f"{ymd(now)} {now:%H:%M} UTC>\nYou see {who}.")


INCOMPLETE = (":warning: renewbot could not ask Slack about all your channels or user groups just now, so only "
              "tokens it is sure about are shown. Open this tab again in a minute.")
EMPTY = "No tokens to show."


def _top(overview: Overview, now: datetime, title: str) -> list[dict]:
    blocks = [{"type": "header", "text": plain(title, MAX_HEADER_TEXT)}, context(_summary(overview, now))]
    if not overview.complete:
        blocks.append(context(INCOMPLETE))
    if not overview.total:
        blocks.append(section(EMPTY))
    return blocks


def home_view(overview: Overview, now: datetime) -> dict:
    top = _top(overview, now, "renewbot: your tokens")
    return {"type": "home", "blocks": top + _rows(overview, now, HOME_BLOCKS - len(top))}


def list_blocks(overview: Overview, now: datetime) -> list[dict]:
    top = _top(overview, now, "Your tokens, most urgent first")
    return top + _rows(overview, now, LIST_BLOCKS - len(top))


def list_text(overview: Overview, now: datetime) -> str:
    """The fallback: names each token and its date, the most urgent first."""
    if not overview.total:
        return EMPTY
    parts = [f"{escape(clip(e.line.name, 100))} ({ymd(e.line.expires_at) if e.line.expiry_known else 'unknown'}, "
             f"{describe_days_left(e.line.expires_at, now) if e.line.expiry_known else 'expiry unknown'})"
             for e in overview.entries[:20]]
    more = overview.total - len(parts)
    text = f"{_plural(overview.total, 'token')} by urgency: " + "; ".join(parts)
    return clip(text + (f"; and {more:,} more" if more > 0 else ""), MAX_SECTION_TEXT)
