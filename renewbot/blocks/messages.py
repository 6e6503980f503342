"""Replies: the renewal confirmation and the short explanations sent to one person."""

from __future__ import annotations

from collections.abc import Sequence

from renewbot.blocks.common import MAX_SECTION_TEXT, clip, context, escape, mention, section, slack_date, ymd
from renewbot.domain.patterns import OWNER_RE, is_channel_id
from renewbot.usecases.renewal import RenewalOutcome
from renewbot.usecases.verify import LWA_SETTINGS_REFUSED, VERIFIED


def _flag_text(account: dict) -> str:
    state = "enabled" if account["enabled"] else "still disabled"
    orders = "fetching orders" if account["fetch_orders"] else "don't fetch orders"
    return f"{account['name']} ({state}, {orders})"


def verification_text(outcome: RenewalOutcome) -> str | None:
    """What the check with the issuer said, in a sentence; None when the token had nothing to check against."""
    if outcome.verification is None:
        return None
    if outcome.verification == VERIFIED:
        return f"The new token was verified with {escape(outcome.verified_by or 'its issuer')}."
    why = escape(outcome.verification.removeprefix("unverified: "))
    if outcome.verification.removeprefix("unverified: ") == LWA_SETTINGS_REFUSED:
        return f"The new token was saved as not verified: {why}."
    return f"The new token was saved, but could not be verified: {why}."


# Where the secret came from, when not the Slack form (RenewalOutcome.via): Slack never saw it then.
_VIA = {"page": "The new value was entered on renewbot's private page, not in Slack.",
        "amazon": "Authorized with Amazon by <@{user}>{seller}: the new authorization went from Amazon to renewbot "
                  "directly."}


def via_text(outcome: RenewalOutcome) -> str | None:
    line = _VIA.get(outcome.via or "")
    seller = getattr(outcome, "seller", None)  # amazon_oauth.AmazonOutcome names the seller authorized
    if not line:
        return None
    return line.format(user=outcome.renewed_by, seller=f" for seller {escape(seller)}" if seller else "")


def confirmation_text(outcome: RenewalOutcome) -> str:
    reenabled = [escape(a["name"]) for a in outcome.accounts if a["reenabled"]]
    accounts = f" Re-enabled: {', '.join(reenabled)}." if reenabled else ""
    checked = f" {verification}" if (verification := verification_text(outcome)) else ""
    via = f" {line}" if (line := via_text(outcome)) else ""
    return (f"{escape(outcome.token_name)} renewed by <@{outcome.renewed_by}>: expiry "
            f"{ymd(outcome.old_expiry)} → {ymd(outcome.new_expiry)}.{accounts}{checked}{via}")


def confirmation_blocks(outcome: RenewalOutcome) -> list[dict]:
    lines = [
        f":white_check_mark: <@{outcome.renewed_by}> renewed *{clip(escape(outcome.token_name), 500)}*.",
        f"*Expiry:* {ymd(outcome.old_expiry)} → *{ymd(outcome.new_expiry)}* ({slack_date(outcome.new_expiry)})",
    ]
    if outcome.accounts:
        rows = [f"• {escape(_flag_text(a))}{' — re-enabled' if a['reenabled'] else ''}" for a in outcome.accounts]
        lines.append("*Accounts:*\n" + "\n".join(rows))
    if verification := verification_text(outcome):
        icon = ":white_check_mark:" if outcome.verification == VERIFIED else ":warning:"
        lines.append(f"{icon} {verification}")
    if via := via_text(outcome):
        lines.append(f":lock: {via}")
    return [section(clip("\n".join(lines), MAX_SECTION_TEXT)),
            context("renewbot · the new token is stored encrypted")]


def _channel(channel: str | None) -> str:
    return f"<#{channel}>" if is_channel_id(channel) else "the token's channel"


_ASK_ADMIN = "Ask an admin to add you to the token's owners in the import file."


def not_allowed_text(token_name: str, owners: Sequence[str], *, why: str = "not_owner",
                     channel: str | None = None) -> str:
    """Why this person may not act on the token; `why` is a handlers.access reason."""
    name = f"*{escape(token_name)}*"
    named = [o for o in owners if o != "*" and OWNER_RE.fullmatch(o)]
    if why == "guest":
        return (f"You can't renew {name}: guests can act only on tokens that name them "
                f"(or a user group they are in) as owners. {_ASK_ADMIN}")
    if why == "other_team":
        return (f"You can't renew {name}: people from another organisation can act only on tokens that name them "
                f"(or a user group they are in) as owners. {_ASK_ADMIN}")
    if why == "not_full_member":
        return f"You can't renew {name}: only active full members of this workspace can renew it."
    if why == "unverified":
        return (f"You can't renew {name} right now: renewbot could not check with Slack who may renew it. "
                "Try again in a minute.")
    if why == "not_in_channel":
        return (f"You can't renew {name}: it names no owners, so only members of {_channel(channel)} can renew it. "
                f"Join the channel, or {_ASK_ADMIN[0].lower()}{_ASK_ADMIN[1:]}")
    who = ", ".join(mention(o) for o in named[:20])
    return (f"You can't renew {name}: only its owners can{f' ({who})' if who else ''}. "
            "Ask one of them, or ask an admin to add you to the token's owners in the import file.")


def not_allowed_field_text(why: str) -> str:
    """The same refusal, short and plain, for the form's token field after a submission."""
    return {
        "guest": "Guests can renew only tokens that name them as owners.",
        "other_team": "People from another organisation can renew only tokens that name them as owners.",
        "not_full_member": "Only active full members of this workspace can renew this token.",
        "unverified": "renewbot could not check with Slack who may renew this token (nothing was changed). "
                      "Try again in a minute.",
        "not_in_channel": "This token names no owners: only members of its channel can renew it.",
    }.get(why, "Only this token's owners can renew it.")


def unknown_token_text(ref: str, matches: Sequence[str]) -> str:
    shown = escape(clip(ref, 100))
    if matches:
        return f"No token called `{shown}`. Did you mean: " + ", ".join(f"`{escape(m)}`" for m in matches) + "?"
    return f"No token called `{shown}`. Run `/renew-token` with no argument to pick from the list."


def stale_text(token_name: str) -> str:
    return (f"*{escape(token_name)}* changed while your form was open (someone else may have renewed it). "
            "Nothing was saved from your form; open it again to check the current expiry.")


def failure_text() -> str:
    return ("Something went wrong on renewbot's side and nothing was changed. "
            "Try again; if it persists, check the bot's logs.")
