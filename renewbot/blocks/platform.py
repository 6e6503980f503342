"""What the renewal's thread says about the platform: on its way, delivered (per account), failed, done by hand.

Pure builders. Everything a receiver said (account errors, HTTP details) comes from outside: escaped and
clipped here like any other name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from renewbot.blocks import ids
from renewbot.blocks.common import (
    MAX_SECTION_TEXT,
    button,
    clip,
    context,
    escape,
    link_target,
    section,
    slack_date,
    ymd,
)

DONE_LABEL = "Done in the platform"


def _name(text: str, limit: int = 200) -> str:
    return escape(clip(text, limit))


def on_its_way_block(connector_id: str) -> dict:
    """Under the confirmation, right after the renewal."""
    return context(f":outbox_tray: On its way to *{_name(connector_id)}*: renewbot says in this thread "
                   "when it answers.")


def on_its_way_text(connector_id: str) -> str:
    return f" On its way to {_name(connector_id)}."


def not_connected_text() -> str:
    return " renewbot recorded the change; the platform still needs it."


def not_connected_blocks(renewal_id: int, *, seen_by_person: bool = True) -> list[dict]:
    """No connector: say plainly that the platform still needs the new token, and let a person say it is done.
    `seen_by_person=False` (Amazon handed the token to renewbot): nobody can paste it, only a connector can."""
    how = ("Paste the new token into the platform that uses it and switch its accounts back on there"
           if seen_by_person else
           "Nobody has seen the new token (Amazon gave it to renewbot directly), so only a connector can deliver "
           "it: give this token a `connector` in the import file (see *Connecting your platform* in the README)")
    return [
        section(f":large_yellow_circle: renewbot recorded the change; *the platform still needs it*. {how}, then "
                f"press *{DONE_LABEL}*."),
        {"type": "actions", "block_id": ids.PLATFORM_DONE_BLOCK,
         "elements": [button(DONE_LABEL, ids.PLATFORM_DONE_BUTTON, value=str(renewal_id), style="primary")]},
    ]


def confirmed_blocks(blocks: Sequence[Mapping], user_id: str, when: datetime) -> list[dict]:
    """The confirmation as it was, its Done button replaced by who pressed it and when."""
    kept = [dict(b) for b in blocks if b.get("block_id") != ids.PLATFORM_DONE_BLOCK]
    return [*kept, context(f":white_check_mark: Done in the platform: confirmed by <@{user_id}> {slack_date(when)}.")]


def _account_lines(connector_id: str, accounts: Sequence[Mapping], results: Sequence[Mapping]) -> list[str]:
    """One phrase per account of the renewal, in its order, from what the receiver said about it."""
    said = {r.get("id"): r for r in results}
    lines = []
    for account in accounts:
        result = said.get(account["id"])
        if result is None:
            lines.append(f"{_name(account['name'])}: no answer from {_name(connector_id)}")
        elif result.get("ok"):
            done = "re-enabled" if account.get("reenabled") else "updated"
            lines.append(f"{_name(account['name'])} {done} by {_name(connector_id)}")
        else:
            lines.append(f"{_name(account['name'])}: {_name(str(result.get('error') or 'refused'), 300)}")
    return lines


def delivered_text(token_name: str, new_expiry: datetime, connector_id: str, accounts: Sequence[Mapping],
                   results: Sequence[Mapping]) -> str:
    """The fallback: "Amazon UK re-enabled by commerce-eu; Amazon DE: seller account suspended", named and dated."""
    head = f"{_name(token_name)} (expires {ymd(new_expiry)})"
    if not results:
        return f"{head}: {_name(connector_id)} took the new token."
    return clip(f"{head}: " + "; ".join(_account_lines(connector_id, accounts, results)), MAX_SECTION_TEXT)


def delivered_blocks(token_name: str, connector_id: str, accounts: Sequence[Mapping], results: Sequence[Mapping],
                     settings: Mapping[str, str | None]) -> list[dict]:
    """`settings`: account id -> its settings URL, linked for the accounts the receiver refused."""
    if not results:
        return [section(f":white_check_mark: *{_name(connector_id)}* took the new *{_name(token_name)}* "
                        "(it did not report per account).")]
    lines = _account_lines(connector_id, accounts, results)
    refused = [a for a in accounts if any(r.get("id") == a["id"] and not r.get("ok") for r in results)]
    icon = ":warning:" if refused else ":white_check_mark:"
    text = f"{icon} *{_name(token_name)}* in *{_name(connector_id)}*:\n" + "\n".join(f"• {line}" for line in lines)
    if refused:
        text += "\nFix by hand: " + ", ".join(_linked(a, settings) for a in refused)
    return [section(clip(text, MAX_SECTION_TEXT))]


def _linked(account: Mapping, settings: Mapping[str, str | None]) -> str:
    url = settings.get(account["id"])
    return f"<{link_target(url)}|{_name(account['name'])}>" if url else _name(account["name"])


def failed_text(token_name: str, new_expiry: datetime, connector_id: str, renewed_by: str) -> str:
    return (f"<@{renewed_by}> {_name(token_name)} (expires {ymd(new_expiry)}) did not reach {_name(connector_id)}: "
            "do it by hand in the platform.")


def failed_blocks(token_name: str, connector_id: str, renewed_by: str, reason: str, gave_up: bool,
                  accounts: Sequence[Mapping], settings: Mapping[str, str | None]) -> list[dict]:
    """A permanent failure: what failed, why, and what to do by hand (with each account's settings link)."""
    what = (f"*{_name(connector_id)}* could not be reached for 24 hours" if gave_up
            else f"*{_name(connector_id)}* refused it")
    lines = [f":x: <@{renewed_by}> the new *{_name(token_name)}* did not reach the platform: {what} "
             f"({_name(reason, 300)}).",
             "*Do it by hand:* paste the new token into the platform, then switch these accounts back on there:"]
    lines += [f"• {_linked(a, settings)}" for a in accounts] or ["• (this token lists no accounts)"]
    return [section(clip("\n".join(lines), MAX_SECTION_TEXT)),
            context("renewbot will not retry this delivery; `renewbot status` lists it.")]
