"""`/renew-token help`: what the command does, with each subcommand."""

from __future__ import annotations

from renewbot.blocks import ids
from renewbot.blocks.common import escape

_C = ids.RENEW_COMMAND


def usage_text(*, admins_configured: bool) -> str:
    who_adds = ("Only renewbot's admins (`RENEWBOT_ADMINS`) may add tokens." if admins_configured else
                "Any full member of the workspace may add one, and becomes one of its owners.")
    return "\n".join([
        f"*How to use `{_C}`*",
        f"• `{_C}`: pick one of the tokens you may renew, and renew it.",
        # Slack reads a bare "<...>" as a link or mention, even inside backticks: escaped, it shows as typed.
        f"• `{_C} {escape('<token id or name>')}`: open the renewal form for that token.",
        f"• `{_C} {ids.SUBCOMMAND_LIST} [expired|due|fine] [page N]`: the tokens you can see (yours, your groups' "
        "and your channels'), most urgent first, with days left, 40 a page (only you see it).",
        f"• `{_C} {ids.SUBCOMMAND_ADD} [name]`: register a new token (name, kind, expiry, channel, owners, "
        f"accounts). {who_adds} Its secret is stored by its first renewal.",
        f"• `{_C} {ids.SUBCOMMAND_HELP}`: this message.",
    ])
