"""Follow-up messages: escalation replies, the escalation at expiry, reminders after expiry, the weekly digest.

Pure builders: each returns (text, blocks); the caller posts them. Names come from an import file and are
escaped; mentions are built only from ids (U…/W…, S…) and the fixed words Slack knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.common import MAX_BLOCKS_MESSAGE, context, escape, link_target, section, ymd
from renewbot.blocks.common import mention as owner_mention
from renewbot.domain.patterns import is_person_or_group
from renewbot.domain.thresholds import describe_days_left

CHANNEL = "channel"  # escalate_to: the word for <!channel>


def mention(who: str) -> str:
    """<@U…> for a person, <!subteam^S…> for a user group, <!channel> for the word `channel`."""
    return "<!channel>" if who == CHANNEL else owner_mention(who)


def owners_mention(owners: Sequence[str]) -> str:
    """The owners that are people or user groups, each mentioned; <!here> when none is left (somebody must hear
    it). The wildcard owner "*" (every full member) has no mention of its own."""
    return " ".join(mention(o) for o in owners if is_person_or_group(o)) or "<!here>"


def expiry_mention(escalate_to: str | None, owners: Sequence[str]) -> str:
    """At expiry: the token's escalate_to, else its owners, else <!here>."""
    return mention(escalate_to) if escalate_to else owners_mention(owners)


def followup_metadata(followup_id: int, token_id: str, kind: str, key: str, seal: str) -> dict:
    """`seal` proves the reply is ours when a retry finds it in the thread (see jobs/followups)."""
    return {"event_type": ids.FOLLOWUP_EVENT_TYPE,
            "event_payload": {"followup_id": followup_id, "token_id": token_id, "kind": kind, "key": key,
                              "seal": seal}}


def digest_metadata(digest_id: int, week: str, seal: str) -> dict:
    return {"event_type": ids.DIGEST_EVENT_TYPE, "event_payload": {"digest_id": digest_id, "week": week,
                                                                   "seal": seal}}


def escalation_message(token_name: str, expires_at: datetime, owners: Sequence[str], hours: float,
                       now: datetime) -> tuple[str, list[dict]]:
    """A stage of ≤ 3 days nobody acknowledged within ESCALATE_AFTER_HOURS."""
    name = escape(token_name)
    after = f"{hours:g} hour{'s' if hours != 1 else ''}"
    text = (f"{owners_mention(owners)} {name} expires on {ymd(expires_at)} ({describe_days_left(expires_at, now)}) "
            f"and nobody acknowledged this notice within {after}. Renew it, or press Acknowledge if you are on it.")
    return text, [section(text)]


def expiry_message(token_name: str, expires_at: datetime, escalate_to: str | None,
                   owners: Sequence[str]) -> tuple[str, list[dict]]:
    """The token expired and nobody renewed it."""
    text = (f"{expiry_mention(escalate_to, owners)} {escape(token_name)} expired on {ymd(expires_at)} and has "
            "not been renewed. Whatever uses it is failing now: renew it from the notice above.")
    return text, [section(text)]


def reminder_message(token_name: str, expires_at: datetime, now: datetime) -> tuple[str, list[dict]]:
    """A reminder in the expired notice's thread: no mention (the escalation at expiry already called people)."""
    text = (f"Reminder: {escape(token_name)} {describe_days_left(expires_at, now)} (on {ymd(expires_at)}) and is "
            "still not renewed. Renew it from the notice above, or Mute it if it is no longer used.")
    return text, [section(text), context("Daily for two weeks after expiry, then weekly, until renewed or muted.")]


def _line(name: str, expires_at: datetime, link: str | None, now: datetime) -> str:
    shown = f"<{link_target(link)}|{escape(name)}>" if link else f"*{escape(name)}*"
    return f"{shown}: {describe_days_left(expires_at, now)} ({ymd(expires_at)})"


# Tokens a digest can list: its 50 blocks less the title and the two group headings.
DIGEST_ROWS = MAX_BLOCKS_MESSAGE - 3


def digest_message(channel: str, week: str, items: Sequence[tuple[str, datetime, str | None]],
                   now: datetime, counts: tuple[int, int] | None = None) -> tuple[str, list[dict]] | None:
    """The channel's weekly digest: `items` are (name, expiry, link to its notice or None), soonest first (the
    first DIGEST_ROWS are enough); `counts` the channel's (expired, expiring) totals, when more than the items.
    None when there is nothing to say. One message: past Slack's 50 blocks, the rest is counted."""
    if not items:
        return None
    expired = [i for i in items if i[1] <= now]
    soon = [i for i in items if i[1] > now]
    total_expired, total_soon = counts or (len(expired), len(soon))
    text = (f"Weekly digest {week}: {total_expired} expired, {total_soon} expiring in the next 30 days"
            f" in <#{channel}>")
    blocks: list[dict] = [section(f"*Token digest, week {week}*")]
    rows: list[tuple[bool, dict]] = []  # (is a token, its block)
    for title, group, total in (("Expired, not renewed", expired, total_expired),
                                ("Expiring in the next 30 days", soon, total_soon)):
        if group:
            rows.append((False, section(f"*{title} ({total})*")))
            rows += [(True, section(_line(name, at, link, now))) for name, at, link in group]
    room = MAX_BLOCKS_MESSAGE - len(blocks)
    shown = rows if len(rows) <= room and len(items) == total_expired + total_soon else rows[:room - 1]
    blocks += [block for _, block in shown]
    hidden = total_expired + total_soon - sum(1 for is_token, _ in shown if is_token)
    if hidden > 0:
        blocks.append(context(f"{hidden} more: `/renew-token list`"))
    return text, blocks
