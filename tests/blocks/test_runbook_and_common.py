"""renewbot/blocks/runbook.py and the shared helpers in renewbot/blocks/common.py, exactly.

These pin the output word for word and the helpers at their boundaries, so a changed word, limit or
condition is noticed (see docs/mutation.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from renewbot.blocks import common
from renewbot.blocks.common import (
    button,
    clip,
    context,
    escape,
    link_target,
    mrkdwn,
    plain,
    section,
    slack_date,
    ymd,
)
from renewbot.blocks.runbook import provider_reminder, runbook_blocks, runbook_steps, runbook_text
from renewbot.domain.kinds import Kind
from storage.models import Token

EXPIRES = datetime(2026, 12, 1, 15, 45, tzinfo=UTC)
NO_APP = "the app your team uses for this integration"


def token(kind: str = "generic", *, name: str = "EU token", app_id: str | None = "APP<1>") -> Token:
    return Token(id="eu", kind=kind, name=name, expires_at=EXPIRES, notify_from=EXPIRES - timedelta(days=30),
                 channel="C0123ALERTS", owners=["U0123OWNER"], app_id=app_id, version=1)


# --- runbook ------------------------------------------------------------------------------------

def test_generic_steps_name_the_app_escaped():
    assert runbook_steps(token()) == [
        "Create a new credential with the provider (app ID *APP&lt;1&gt;*).",
        "Press *Renew* on this notice, paste the new value and its expiry date, and submit.",
        "Revoke the old credential at the provider once the new one works.",
    ]


@pytest.mark.parametrize("app_id", [None, ""])
def test_steps_without_an_app_id_use_a_phrase(app_id):
    assert runbook_steps(token(app_id=app_id))[0] == f"Create a new credential with the provider ({NO_APP})."


def test_a_given_kind_is_used_instead_of_the_tokens():
    kind = Kind(id="k", label="K", steps=("Open {app}.", "Paste it; {app} again."), reminder="Do {app} now.")
    assert runbook_steps(token("amazon-mws"), kind) == ["Open app ID *APP&lt;1&gt;*.",
                                                        "Paste it; app ID *APP&lt;1&gt;* again."]
    assert provider_reminder(token("amazon-mws"), kind) == "Do app ID *APP&lt;1&gt;* now."
    assert runbook_blocks(token("amazon-mws"), kind)[0]["text"]["text"] == (
        "*How to renew EU token*\n1. Open app ID *APP&lt;1&gt;*.\n2. Paste it; app ID *APP&lt;1&gt;* again.")


def test_provider_reminder_of_the_tokens_kind():
    assert provider_reminder(token()) == "Create the new credential with its provider first, then paste it here."
    assert provider_reminder(token("amazon-sp-api", app_id=None)) == (
        f"Re-authorise {NO_APP} in Seller Central, then paste the new refresh token.")


def test_runbook_blocks_exactly():
    assert runbook_blocks(token(name="EU <token>")) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "*How to renew EU &lt;token&gt;*\n"
            "1. Create a new credential with the provider (app ID *APP&lt;1&gt;*).\n"
            "2. Press *Renew* on this notice, paste the new value and its expiry date, and submit.\n"
            "3. Revoke the old credential at the provider once the new one works.")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "renewbot · renewal steps"}]},
    ]


def test_runbook_blocks_clip_the_name_to_200():
    text = runbook_blocks(token(name="n" * 300))[0]["text"]["text"]
    assert text.startswith("*How to renew " + "n" * 199 + "…*\n1. ")


def test_runbook_text_exactly():
    assert runbook_text(token(name="EU <token>")) == "Renewal steps for EU &lt;token&gt; (expires 2026-12-01)"


# --- common -------------------------------------------------------------------------------------

def test_slack_limits():
    assert (common.MAX_BLOCKS_MESSAGE, common.MAX_BLOCKS_MODAL) == (50, 100)
    assert (common.MAX_SECTION_TEXT, common.MAX_FIELD_TEXT, common.MAX_HEADER_TEXT) == (3000, 2000, 150)
    assert (common.MAX_BUTTON_TEXT, common.MAX_OPTION_TEXT) == (75, 75)
    assert (common.MAX_OPTIONS_SELECT, common.MAX_OPTIONS_CHECKBOXES, common.MAX_CONTEXT_TEXT) == (100, 10, 2000)


def test_clip_keeps_text_up_to_the_limit_and_ends_longer_text_with_an_ellipsis():
    assert clip("abcde", 5) == "abcde"
    assert clip("abcdef", 5) == "abcd…"
    assert clip("", 1) == ""
    assert len(clip("x" * 10, 4)) == 4


def test_escape():
    assert escape("a & b <c> >d<") == "a &amp; b &lt;c&gt; &gt;d&lt;"
    assert escape("&lt;") == "&amp;lt;"  # & first: already-escaped text is escaped again, not passed through


def test_link_target_encodes_what_would_break_a_link():
    assert link_target("https://ex.example/a b|c<d>?q=1&r=[2]#x~y") == (
        "https://ex.example/a%20b%7Cc%3Cd%3E?q=1&amp;r=[2]#x~y")
    assert link_target("https://ex.example/@!$'()*+,;=%-._") == "https://ex.example/@!$'()*+,;=%-._"


def test_ymd_and_slack_date():
    assert ymd(date(2026, 3, 4)) == "2026-03-04"
    assert ymd(EXPIRES) == "2026-12-01"
    assert slack_date(EXPIRES) == (f"<!date^{int(EXPIRES.timestamp())}^{{date_long_pretty}} at {{time}}"
                                   "|2026-12-01 15:45 UTC>")


def test_text_objects_and_blocks():
    assert mrkdwn("*a*") == {"type": "mrkdwn", "text": "*a*"}
    assert plain("a") == {"type": "plain_text", "text": "a", "emoji": True}
    assert plain("x" * 3001)["text"] == "x" * 2999 + "…"
    assert plain("x" * 3000)["text"] == "x" * 3000
    assert plain("abcdef", 4)["text"] == "abc…"
    assert section("s" * 3001) == {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 2999 + "…"}}
    assert section("s") == {"type": "section", "text": {"type": "mrkdwn", "text": "s"}}
    assert context("c" * 2001) == {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 1999 + "…"}]}
    assert context("c" * 2000)["elements"][0]["text"] == "c" * 2000


def test_button_has_only_the_keys_given():
    assert button("Go", "go") == {"type": "button", "text": plain("Go"), "action_id": "go"}
    assert button("b" * 80, "go", value="v", url="https://ex.example", style="primary") == {
        "type": "button", "text": plain("b" * 74 + "…"), "action_id": "go", "value": "v",
        "url": "https://ex.example", "style": "primary"}
    assert button("Go", "go", value="") == {"type": "button", "text": plain("Go"), "action_id": "go", "value": ""}
