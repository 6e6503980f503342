"""The replies in renewbot/blocks/messages.py, word for word.

The builders' structural tests live in test_builders.py; these pin what a person reads, so a changed
word, a dropped clause or a swapped condition is noticed (see docs/mutation.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renewbot.blocks.common import MAX_SECTION_TEXT
from renewbot.blocks.messages import (
    confirmation_blocks,
    confirmation_text,
    failure_text,
    not_allowed_field_text,
    not_allowed_text,
    stale_text,
    unknown_token_text,
)
from renewbot.usecases.renewal import RenewalOutcome

OLD = datetime(2026, 12, 1, tzinfo=UTC)
NEW = datetime(2027, 12, 1, 9, 30, tzinfo=UTC)
ASK_ADMIN = "Ask an admin to add you to the token's owners in the import file."


def acc(name: str, *, reenabled: bool, enabled: bool, fetch_orders: bool) -> dict:
    return {"id": name.lower(), "name": name, "reenabled": reenabled, "enabled": enabled,
            "fetch_orders": fetch_orders}


def outcome(accounts: list[dict], name: str = "EU token") -> RenewalOutcome:
    return RenewalOutcome(token_id="eu", token_name=name, channel="C0123ALERTS", renewed_by="U0RENEWER",
                          old_expiry=OLD, new_expiry=NEW, accounts=accounts, thread=None)


# --- the confirmation ---------------------------------------------------------------------

def test_confirmation_text_exactly_with_reenabled_accounts_only():
    out = outcome([acc("A&B", reenabled=True, enabled=True, fetch_orders=True),
                   acc("Kept off", reenabled=False, enabled=False, fetch_orders=True),
                   acc("C<D>", reenabled=True, enabled=True, fetch_orders=False)], name="EU <token>")
    assert confirmation_text(out) == ("EU &lt;token&gt; renewed by <@U0RENEWER>: expiry 2026-12-01 → 2027-12-01."
                                      " Re-enabled: A&amp;B, C&lt;D&gt;.")


def test_confirmation_text_without_reenabled_accounts_has_no_list():
    out = outcome([acc("Kept off", reenabled=False, enabled=False, fetch_orders=True)])
    assert confirmation_text(out) == "EU token renewed by <@U0RENEWER>: expiry 2026-12-01 → 2027-12-01."
    assert confirmation_text(outcome([])) == "EU token renewed by <@U0RENEWER>: expiry 2026-12-01 → 2027-12-01."


def test_confirmation_blocks_exactly():
    out = outcome([acc("On", reenabled=True, enabled=True, fetch_orders=True),
                   acc("Off", reenabled=False, enabled=False, fetch_orders=False),
                   acc("Was on", reenabled=False, enabled=True, fetch_orders=False),
                   acc("Back", reenabled=True, enabled=True, fetch_orders=False)])
    stamp = int(NEW.timestamp())
    assert confirmation_blocks(out) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":white_check_mark: <@U0RENEWER> renewed *EU token*.\n"
            f"*Expiry:* 2026-12-01 → *2027-12-01* (<!date^{stamp}^{{date_long_pretty}} at {{time}}"
            "|2027-12-01 09:30 UTC>)\n"
            "*Accounts:*\n"
            "• On (enabled, fetching orders) — re-enabled\n"
            "• Off (still disabled, don't fetch orders)\n"
            "• Was on (enabled, don't fetch orders)\n"
            "• Back (enabled, don't fetch orders) — re-enabled")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "renewbot · the new token is stored encrypted"}]},
    ]


def test_confirmation_blocks_without_accounts_have_no_accounts_line():
    [sec, ctx] = confirmation_blocks(outcome([]))
    assert "Accounts" not in sec["text"]["text"]
    assert sec["text"]["text"].count("\n") == 1
    assert ctx["elements"][0]["text"] == "renewbot · the new token is stored encrypted"


def test_confirmation_blocks_escape_and_clip_the_name_to_500():
    [sec, _] = confirmation_blocks(outcome([], name="<" + "n" * 600))
    first = sec["text"]["text"].split("\n")[0]
    assert first == ":white_check_mark: <@U0RENEWER> renewed *" + "&lt;" + "n" * 495 + "…*."


def test_confirmation_blocks_clip_a_long_accounts_list_to_the_section_limit():
    many = [acc(f"Account {i:03d} " + "x" * 40, reenabled=True, enabled=True, fetch_orders=True) for i in range(100)]
    [sec, _] = confirmation_blocks(outcome(many))
    text = sec["text"]["text"]
    assert len(text) == MAX_SECTION_TEXT
    assert text.endswith("…")


# --- refusals -------------------------------------------------------------------------------

def test_not_allowed_text_for_a_non_owner_lists_named_owners_only():
    text = not_allowed_text("EU <token>", ["U0123OWNER", "*", "S0GROUP", "not an id", "W0ENTERPRISE"])
    assert text == ("You can't renew *EU &lt;token&gt;*: only its owners can "
                    "(<@U0123OWNER>, <!subteam^S0GROUP>, <@W0ENTERPRISE>). "
                    "Ask one of them, or ask an admin to add you to the token's owners in the import file.")


def test_not_allowed_text_without_named_owners_has_no_parentheses():
    text = not_allowed_text("EU token", ["*"])
    assert text == ("You can't renew *EU token*: only its owners can. "
                    "Ask one of them, or ask an admin to add you to the token's owners in the import file.")
    assert not_allowed_text("EU token", []) == text
    assert not_allowed_text("EU token", [], why="something new") == text


def test_not_allowed_text_names_at_most_20_owners():
    owners = [f"U{i:04d}" for i in range(25)]
    text = not_allowed_text("EU token", owners)
    assert "<@U0019>" in text and "<@U0020>" not in text
    assert text.count("<@") == 20


@pytest.mark.parametrize("why, expected", [
    ("guest", "You can't renew *EU token*: guests can act only on tokens that name them "
              f"(or a user group they are in) as owners. {ASK_ADMIN}"),
    ("other_team", "You can't renew *EU token*: people from another organisation can act only on tokens that "
                   f"name them (or a user group they are in) as owners. {ASK_ADMIN}"),
    ("not_full_member", "You can't renew *EU token*: only active full members of this workspace can renew it."),
    ("unverified", "You can't renew *EU token* right now: renewbot could not check with Slack who may renew it. "
                   "Try again in a minute."),
])
def test_not_allowed_text_by_reason(why, expected):
    assert not_allowed_text("EU token", ["U0123OWNER"], why=why) == expected


def test_not_allowed_text_not_in_channel_names_the_channel():
    assert not_allowed_text("EU token", [], why="not_in_channel", channel="C0123ALERTS") == (
        "You can't renew *EU token*: it names no owners, so only members of <#C0123ALERTS> can renew it. "
        "Join the channel, or ask an admin to add you to the token's owners in the import file.")


@pytest.mark.parametrize("channel", [None, "", "#alerts", "<!channel>", "U0123OWNER"])
def test_not_allowed_text_not_in_channel_without_a_channel_id(channel):
    assert not_allowed_text("EU token", [], why="not_in_channel", channel=channel) == (
        "You can't renew *EU token*: it names no owners, so only members of the token's channel can renew it. "
        "Join the channel, or ask an admin to add you to the token's owners in the import file.")


@pytest.mark.parametrize("why, expected", [
    ("guest", "Guests can renew only tokens that name them as owners."),
    ("other_team", "People from another organisation can renew only tokens that name them as owners."),
    ("not_full_member", "Only active full members of this workspace can renew this token."),
    ("unverified", "renewbot could not check with Slack who may renew this token (nothing was changed). "
                   "Try again in a minute."),
    ("not_in_channel", "This token names no owners: only members of its channel can renew it."),
    ("not_owner", "Only this token's owners can renew it."),
    ("anything else", "Only this token's owners can renew it."),
])
def test_not_allowed_field_text(why, expected):
    assert not_allowed_field_text(why) == expected


# --- other replies --------------------------------------------------------------------------

def test_unknown_token_text_with_matches_exactly():
    assert unknown_token_text("eu", ["eu-mws", "eu<sp>"]) == (
        "No token called `eu`. Did you mean: `eu-mws`, `eu&lt;sp&gt;`?")


def test_unknown_token_text_without_matches_exactly():
    assert unknown_token_text("zz<z>", []) == (
        "No token called `zz&lt;z&gt;`. Run `/renew-token` with no argument to pick from the list.")


def test_unknown_token_text_clips_the_reference_to_100_before_escaping():
    text = unknown_token_text("r" * 99 + "<<<", [])
    assert text.startswith("No token called `" + "r" * 99 + "…`.")


def test_stale_text_exactly():
    assert stale_text("EU <token>") == (
        "*EU &lt;token&gt;* changed while your form was open (someone else may have renewed it). "
        "Nothing was saved from your form; open it again to check the current expiry.")


def test_failure_text_exactly():
    assert failure_text() == ("Something went wrong on renewbot's side and nothing was changed. "
                              "Try again; if it persists, check the bot's logs.")
