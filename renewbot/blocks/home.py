"""The Home tab and the `/renew-token list` message: every token a person sees, most urgent first.

One section per token (its Renew button as the accessory), under a header per group. Past Slack's block limit
(100 in a view) Home shows the most urgent rows and a last line says how many are not and which page of
`/renew-token list` goes on from there. The list is paged: LIST_ROWS tokens a page (it fits the 50 blocks of a
message), `/renew-token list [expired|due|fine] [page N]`, each page naming the next.
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
from renewbot.domain.patterns import OWNER_WILDCARD, is_channel_id, is_group
from renewbot.domain.thresholds import describe_days_left
from renewbot.usecases.overview import DUE, EXPIRED, FINE, SCOPE_NAMED, Entry, Overview

HOME_BLOCKS = MAX_BLOCKS_MODAL  # Slack's limit for a view, the Home tab's included
LIST_BLOCKS = MAX_BLOCKS_MESSAGE
# Tokens per list page: with the title, summary, warning, three group headers and the last line it fits a message
# (so every page shows all of its tokens, and "the next page" goes on exactly where a page ends).
LIST_ROWS = 40
ACCOUNTS_SHOWN = 5  # per row; the rest are counted, so a row stays short whatever a token serves
OWNERS_SHOWN = 10

GROUP_TITLES = {EXPIRED: ":rotating_light: Expired", DUE: ":hourglass_flowing_sand: Due",
                FINE: ":white_check_mark: Fine"}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def owners_text(owners: Sequence[str], channel: str) -> str:
    named = [o for o in owners if o != OWNER_WILDCARD]
    parts = [f"<!subteam^{o}>" if is_group(o) else f"<@{o}>" for o in named[:OWNERS_SHOWN]]
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


def list_command(group: str | None = None, page: int = 1) -> str:
    """The subcommand that shows this page of the list, as a person types it."""
    words = [ids.RENEW_COMMAND, ids.SUBCOMMAND_LIST, *([group] if group else []), *([str(page)] if page > 1 else [])]
    return f"`{' '.join(words)}`"


def page_of(index: int) -> int:
    """The list page (from 1) holding the token at this 0-based position."""
    return index // LIST_ROWS + 1


def not_shown_text(count: int, shown: int) -> str:
    """Home's last line, when `shown` rows (the most urgent) are all that fit."""
    page = page_of(shown)
    return (f"{_plural(count, 'more token')} not shown. Type {list_command(page=page)} for the list from token "
            f"{(page - 1) * LIST_ROWS + 1:,} on, {LIST_ROWS} a page (each page names the next), or "
            f"{list_command(DUE)} for one group (`{EXPIRED}`, `{DUE}` or `{FINE}`).")


def page_text(overview: Overview, shown: int) -> str:
    """A list page's last line: which tokens it shows and the subcommand for the next page."""
    first, last, page = overview.offset + 1, overview.offset + shown, page_of(overview.offset)
    which = f"{overview.group} tokens" if overview.group else "tokens"
    if last >= overview.matching:
        return f"{which.capitalize()} {first:,}–{last:,} of {overview.matching:,}: the last page."
    return (f"{which.capitalize()} {first:,}–{last:,} of {overview.matching:,}. "
            f"Next: {list_command(overview.group, page + 1)}")


def _rows(overview: Overview, now: datetime, room: int, last_line) -> list[dict]:
    """Group headers and rows, most urgent first, in at most `room` blocks, the last line included: it is there
    whenever some matching token is not on this page (`last_line(shown)` says what it reads)."""
    blocks: list[dict] = []
    group = None
    shown = 0
    for entry in overview.entries:
        need = 1 + (entry.group != group)
        after = overview.matching - overview.offset - shown - 1  # tokens after this one: they need the last line
        if len(blocks) + need + (after > 0 or overview.offset > 0) > room:
            break
        if entry.group != group:
            group = entry.group
            blocks.append({"type": "header", "text": plain(
                f"{GROUP_TITLES[group]} ({overview.counts.get(group, 0):,})", MAX_HEADER_TEXT)})
        blocks.append(row_block(entry, now))
        shown += 1
    if overview.offset > 0 or overview.matching > overview.offset + shown:
        blocks.append(context(last_line(shown)))
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


def past_the_end_text(overview: Overview) -> str:
    pages = page_of(max(overview.matching - 1, 0))
    which = f"{overview.group} tokens" if overview.group else "tokens"
    return (f"There is no page {page_of(overview.offset):,} of your {which}: there "
            f"{'is 1 page' if pages == 1 else f'are {pages:,} pages'} ({list_command(overview.group, pages)} "
            "is the last).")


def _top(overview: Overview, now: datetime, title: str) -> list[dict]:
    blocks = [{"type": "header", "text": plain(title, MAX_HEADER_TEXT)}, context(_summary(overview, now))]
    if not overview.complete:
        blocks.append(context(INCOMPLETE))
    if not overview.total:
        blocks.append(section(EMPTY))
    elif not overview.matching:
        blocks.append(section(f"No {overview.group} tokens to show."))
    elif not overview.entries:
        blocks.append(section(past_the_end_text(overview)))
    return blocks


def home_view(overview: Overview, now: datetime) -> dict:
    """Home: the most urgent tokens, from the first (`overview` is never a later page nor one group)."""
    top = _top(overview, now, "renewbot: your tokens")
    rows = _rows(overview, now, HOME_BLOCKS - len(top),
                 lambda shown: not_shown_text(overview.total - shown, shown))
    return {"type": "home", "blocks": top + rows}


def list_blocks(overview: Overview, now: datetime) -> list[dict]:
    """A page of `/renew-token list`: `overview` holds the LIST_ROWS tokens of the page asked for."""
    which = f"Your {overview.group} tokens" if overview.group else "Your tokens"
    page = f", page {page_of(overview.offset):,}" if overview.offset else ""
    top = _top(overview, now, f"{which}, most urgent first{page}")
    return top + _rows(overview, now, LIST_BLOCKS - len(top), lambda shown: page_text(overview, shown))


def list_text(overview: Overview, now: datetime) -> str:
    """The fallback: names each token on the page and its date, the most urgent first."""
    if not overview.total:
        return EMPTY
    if not overview.matching:
        return f"No {overview.group} tokens to show."
    if not overview.entries:
        return past_the_end_text(overview)
    parts = [f"{escape(clip(e.line.name, 100))} ({ymd(e.line.expires_at) if e.line.expiry_known else 'unknown'}, "
             f"{describe_days_left(e.line.expires_at, now) if e.line.expiry_known else 'expiry unknown'})"
             for e in overview.entries[:20]]
    which = f"{overview.group} token" if overview.group else "token"
    start = f" from #{overview.offset + 1:,}" if overview.offset else ""
    more = overview.matching - overview.offset - len(parts)
    text = f"{_plural(overview.matching, which)} by urgency{start}: " + "; ".join(parts)
    return clip(text + (f"; and {more:,} more" if more > 0 else ""), MAX_SECTION_TEXT)
