"""`/renew-token add`: the modal that registers a token, its confirmation, and the short texts around it."""

from __future__ import annotations

from collections.abc import Sequence

from renewbot.blocks import ids
from renewbot.blocks.common import (
    MAX_OPTIONS_SELECT,
    clip,
    context,
    escape,
    mention,
    option,
    plain,
    section,
    slack_date,
    ymd,
)
from renewbot.domain.inventory import MAX_TEXT
from renewbot.domain.kinds import Kind
from renewbot.domain.marketplaces import MARKETPLACES
from renewbot.domain.patterns import is_channel_id
from renewbot.usecases.add_token import AddOutcome, suggest_id

# The bot's name in Slack as the manifest sets it, for "/invite @renewbot".
BOT_HANDLE = "@renewbot"


def kind_option(kind: Kind) -> dict:
    label = kind.label if not kind.legacy or "legacy" in kind.label.lower() else f"{kind.label} (legacy)"
    return option(f"{label} ({kind.id})", kind.id)


def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None) -> dict:
    block: dict = {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element}
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def add_modal(*, kinds: Sequence[Kind], adder_becomes_owner: bool, channel: str | None = None,
              name: str | None = None) -> dict:
    """The form. `channel`: where it was opened (preselected when it is a channel); `name`: typed after `add`."""
    name = clip(" ".join((name or "").split()), MAX_TEXT) or None
    slug = suggest_id(name)
    name_input: dict = {"type": "plain_text_input", "action_id": ids.ADD_NAME_INPUT, "max_length": MAX_TEXT,
                        "placeholder": plain("Amazon EU SP-API authorization")}
    if name:
        name_input["initial_value"] = name
    id_hint = (f"Leave empty to use {slug}" if slug else
               "Leave empty to make it from the name: lowercase, other characters as dashes "
               "(Amazon EU SP-API → amazon-eu-sp-api)") + ". It can't be changed later."
    kinds_element = {"type": "static_select", "action_id": ids.ADD_KIND_INPUT, "placeholder": plain("Pick a kind"),
                     "options": [kind_option(k) for k in kinds[:MAX_OPTIONS_SELECT]]}
    markets = {"type": "static_select", "action_id": ids.ADD_MARKETPLACE_INPUT,
               "placeholder": plain("Pick a marketplace"),
               "options": [option(m.name, m.code) for m in list(MARKETPLACES.values())[:MAX_OPTIONS_SELECT]]}
    conversations: dict = {"type": "conversations_select", "action_id": ids.ADD_CHANNEL_INPUT,
                           "placeholder": plain("Pick a channel"),
                           "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
    if is_channel_id(channel) and not str(channel).startswith("D"):
        conversations["default_to_current_conversation"] = True
    users = {"type": "multi_users_select", "action_id": ids.ADD_OWNER_USERS_INPUT, "placeholder": plain("Pick people")}
    groups = {"type": "multi_external_select", "action_id": ids.ADD_OWNER_GROUPS_INPUT, "min_query_length": 0,
              "placeholder": plain("Type a user group's name")}
    accounts = {"type": "multi_external_select", "action_id": ids.ADD_ACCOUNTS_INPUT, "min_query_length": 0,
                "placeholder": plain("Type an account's name")}
    owners_hint = ("You are added as an owner. " if adder_becomes_owner else
                   "With no owners at all, the members of the channel may renew it. ")
    channel_hint = f"renewbot must be in it: `/invite {BOT_HANDLE}` there first."
    if adder_becomes_owner:
        channel_hint += " It must be a channel you are in."
    blocks = [
        _input(ids.ADD_NAME_BLOCK, "Name", name_input),
        _input(ids.ADD_ID_BLOCK, "Token id", {"type": "plain_text_input", "action_id": ids.ADD_ID_INPUT,
                                              "max_length": 150}, optional=True, hint=id_hint),
        _input(ids.ADD_KIND_BLOCK, "Kind", kinds_element),
        _input(ids.ADD_MARKETPLACE_BLOCK, "Amazon marketplace", markets, optional=True,
               hint="For Amazon kinds: renewal steps link to this marketplace's Seller Central."),
        _input(ids.ADD_EXPIRY_BLOCK, "Expires on", {"type": "datepicker", "action_id": ids.ADD_EXPIRY_INPUT},
               hint="When the credential in use now expires."),
        _input(ids.ADD_CHANNEL_BLOCK, "Channel for its notices", conversations,
               hint=channel_hint),
        _input(ids.ADD_OWNER_USERS_BLOCK, "Owners: people", users, optional=True,
               hint=owners_hint + "Owners may renew it."),
        _input(ids.ADD_OWNER_GROUPS_BLOCK, "Owners: user groups", groups, optional=True,
               hint="Every member of these groups may renew it."),
        _input(ids.ADD_ACCOUNTS_BLOCK, "Accounts it serves", accounts, optional=True,
               hint="Renewing it re-enables these accounts."),
        context("The secret itself is not asked here: the token's first renewal stores it, encrypted."),
    ]
    return {"type": "modal", "callback_id": ids.ADD_MODAL, "title": plain("Add a token", 24),
            "submit": plain("Add", 24), "close": plain("Cancel", 24), "blocks": blocks}


def _owners_text(outcome: AddOutcome) -> str:
    if not outcome.owners:
        return f"none: the members of <#{outcome.channel}> may renew it"
    return ", ".join(mention(o) for o in outcome.owners[:30])


def _first_notice_text(outcome: AddOutcome, now_date) -> str:
    if outcome.notify_from.date() <= now_date:
        return (f"It is within {outcome.first_threshold_days} days of expiry: its first notice is posted in "
                f"<#{outcome.channel}> at renewbot's next scan.")
    return (f"Its first notice comes on {ymd(outcome.notify_from)}, {outcome.first_threshold_days} days before "
            f"it expires, in <#{outcome.channel}>.")


def added_text(outcome: AddOutcome) -> str:
    return (f"{escape(outcome.name)} ({outcome.token_id}) added: expires {ymd(outcome.expires_at)}, "
            f"notices in <#{outcome.channel}>.")


def added_view(outcome: AddOutcome, *, now_date) -> dict:
    """What the modal turns into once the token is stored."""
    lines = [
        f":white_check_mark: *{clip(escape(outcome.name), 500)}* (`{outcome.token_id}`) is registered as "
        f"{escape(outcome.kind_label)}.",
        f"*Expires:* {slack_date(outcome.expires_at)}",
        f"*Owners:* {_owners_text(outcome)}",
    ]
    if outcome.accounts:
        lines.append("*Accounts:* " + ", ".join(f"`{a}`" for a in outcome.accounts[:30]))
    return {"type": "modal", "callback_id": ids.ADD_MODAL, "title": plain("Token added", 24),
            "close": plain("Done", 24),
            "blocks": [section("\n".join(lines)), section(_first_notice_text(outcome, now_date)),
                       context(f"The secret is not stored yet: its first renewal stores it "
                               f"(`/renew-token {outcome.token_id}`, or *Renew* on its first notice).")]}


def channel_problem_text(problem: str, channel: str) -> str:
    """The inline error under the channel: `problem` is "not_member", "archived", "unverified" or
    "adder_not_member" (without admins, the person adding must be in the channel)."""
    if problem == "archived":
        return "This channel is archived: pick another."
    if problem == "adder_not_member":
        return ("You are not a member of this channel: its notices would mention people there. Pick a channel "
                "you are in, or join this one and submit again (the form stays open).")
    if problem == "unverified":
        return "renewbot could not check this channel with Slack (nothing was saved). Try again in a minute."
    return (f"renewbot is not in this channel. Type `/invite {BOT_HANDLE}` in it, then submit this form again "
            "(it stays open).")


def not_allowed_to_add_text(why: str, admins: Sequence[str]) -> str:
    """Why this person may not add tokens; `why` is a handlers.access reason."""
    if why == "unverified":
        return "renewbot could not check with Slack who may add tokens. Try again in a minute."
    if admins:
        who = ", ".join(mention(a) for a in admins[:20])
        return f"Only renewbot's admins can add tokens ({who}). Ask one of them."
    if why == "guest":
        return "Guests can't add tokens: ask a full member of the workspace."
    if why == "other_team":
        return "People from another organisation can't add tokens here: ask a member of this workspace."
    return "Only active full members of this workspace can add tokens."


def group_options(groups: Sequence[tuple[str, str, str]], typed: str | None) -> list[dict]:
    """Options for the user-group picker: (id, handle, name) whose handle or name contains what was typed."""
    needle = (typed or "").strip().lower().lstrip("@")
    found = [(gid, handle, name) for gid, handle, name in groups
             if not needle or needle in handle.lower() or needle in name.lower()]
    found.sort(key=lambda g: (not g[1].lower().startswith(needle), g[1].lower()))
    return [option(f"@{handle} ({name})" if name and name != handle else f"@{handle}", gid)
            for gid, handle, name in found[:MAX_OPTIONS_SELECT]]
