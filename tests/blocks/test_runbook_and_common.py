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


def token(kind: str = "generic", *, name: str = "EU token", app_id: str | None = "APP<1>",
          marketplace: str | None = None, tid: str = "eu") -> Token:
    return Token(id=tid, kind=kind, name=name, expires_at=EXPIRES, notify_from=EXPIRES - timedelta(days=30),
                 channel="C0123ALERTS", owners=["U0123OWNER"], app_id=app_id, version=1, marketplace=marketplace)


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
        f"Re-authorise {NO_APP} in Seller Central → Manage Your Apps, then paste the new refresh token.")


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


# --- Amazon: the marketplace's Manage Your Apps, and paired tokens -------------------------------

UK_APPS = "<https://sellercentral.amazon.co.uk/apps/manage|Manage Your Apps>"


def test_sp_api_steps_and_reminder_link_to_the_tokens_marketplace():
    sp = token("amazon-sp-api", app_id="amzn1.sp.solution.x", marketplace="uk")
    assert runbook_steps(sp)[1] == (f"In Seller Central, open *Apps and Services → {UK_APPS}* and choose *Authorize* "
                                    "on app ID *amzn1.sp.solution.x*.")
    assert provider_reminder(sp) == (f"Re-authorise app ID *amzn1.sp.solution.x* in Seller Central → {UK_APPS}, "
                                     "then paste the new refresh token.")
    assert f"2. In Seller Central, open *Apps and Services → {UK_APPS}*" in runbook_blocks(sp)[0]["text"]["text"]


@pytest.mark.parametrize("code, url", [
    ("de", "https://sellercentral.amazon.de/apps/manage"),
    ("jp", "https://sellercentral.amazon.co.jp/apps/manage"),
    ("us", "https://sellercentral.amazon.com/apps/manage"),
    ("DE", "https://sellercentral.amazon.de/apps/manage"),  # a value stored before import lowercased it
])
def test_mws_steps_and_reminder_link_to_each_marketplace(code, url):
    mws = token("amazon-mws", app_id="532089569783", marketplace=code)
    link = f"<{url}|Manage Your Apps>"
    assert runbook_steps(mws)[3] == f"Go to *{link}*. Several apps are listed; press *Renew* on app ID *532089569783*."
    assert provider_reminder(mws) == ("Before you start: log out of all Amazon seller accounts, then renew app ID "
                                      f"*532089569783* in {link}.")


@pytest.mark.parametrize("code", [None, "", "zz"])
def test_without_a_known_marketplace_the_text_is_todays(code):
    mws = token("amazon-mws", app_id="532089569783", marketplace=code)
    assert runbook_steps(mws)[3] == ("Go to *Manage Your Apps*. Several apps are listed; press *Renew* on app ID "
                                     "*532089569783*.")
    assert "<" not in " ".join(runbook_steps(mws)) + provider_reminder(mws)


def test_kinds_not_renewed_in_manage_your_apps_get_no_link():
    for kind in ("amazon-lwa-client-secret", "generic", "jwt", "x509"):
        text = " ".join(runbook_steps(token(kind, marketplace="uk"))) + provider_reminder(token(kind, marketplace="uk"))
        assert "sellercentral" not in text and "Manage Your Apps" not in text


def test_the_link_target_is_encoded_and_escaped(monkeypatch):
    from renewbot.domain import marketplaces
    odd = marketplaces.Marketplace("xx", "Odd", "https://seller.example/a b|c>d&e")
    monkeypatch.setitem(marketplaces.MARKETPLACES, "xx", odd)
    step = runbook_steps(token("amazon-mws", marketplace="xx"))[3]
    assert step.startswith("Go to *<https://seller.example/a%20b%7Cc%3Ed&amp;e/apps/manage|Manage Your Apps>*.")


def test_a_team_kind_may_say_manage_apps_and_an_app_id_never_turns_into_it():
    kind = Kind(id="k", label="K", steps=("Open {manage_apps} for {app}.",), reminder="In {manage_apps}.")
    tricky = token("k", app_id="{manage_apps}", marketplace="fr")
    assert runbook_steps(tricky, kind) == [
        "Open <https://sellercentral.amazon.fr/apps/manage|Manage Your Apps> for app ID *{manage_apps}*."]
    assert provider_reminder(tricky, kind) == "In <https://sellercentral.amazon.fr/apps/manage|Manage Your Apps>."


PAIR_MWS = ("This seller also has *EU MWS &lt;legacy&gt;* (Amazon MWS auth token (legacy)): renewing in "
            "Manage Your Apps touches both tokens; renew it too.")


def test_an_sp_api_token_paired_with_an_mws_token_says_so_in_steps_and_reminder():
    sp = token("amazon-sp-api", app_id=None)
    mws = token("amazon-mws", name="EU MWS <legacy>", tid="mws")
    assert provider_reminder(sp, paired=[mws]) == (
        f"Re-authorise {NO_APP} in Seller Central → Manage Your Apps, then paste the new refresh token. {PAIR_MWS}")
    text = runbook_blocks(sp, paired=[mws])[0]["text"]["text"]
    assert text.endswith("6. renewbot replies here with the old and new expiry once it is stored.\n\n"
                         f":link: {PAIR_MWS}")


def test_an_mws_token_paired_with_an_sp_api_token_links_its_own_marketplace():
    mws = token("amazon-mws", marketplace="de")
    sp = token("amazon-sp-api", name="EU SP-API", tid="sp")
    note = ("This seller also has *EU SP-API* (Amazon SP-API authorization): renewing in "
            "<https://sellercentral.amazon.de/apps/manage|Manage Your Apps> touches both tokens; renew it too.")
    assert provider_reminder(mws, paired=[sp]).endswith(f"in <https://sellercentral.amazon.de/apps/manage|Manage "
                                                        f"Your Apps>. {note}")
    assert runbook_blocks(mws, paired=[sp])[0]["text"]["text"].endswith(f"\n\n:link: {note}")


def test_without_paired_tokens_nothing_is_added_and_many_are_summed_up():
    sp = token("amazon-sp-api")
    assert "also has" not in runbook_blocks(sp)[0]["text"]["text"] + provider_reminder(sp)
    many = [token("amazon-mws", name=f"MWS {n}", tid=f"m{n}") for n in range(7)]
    text = runbook_blocks(sp, paired=many)[0]["text"]["text"]
    assert text.count("This seller also has") == 5 and "*MWS 4*" in text and "*MWS 5*" not in text
    assert text.endswith(":link: …and 2 more tokens of this seller.")
    long_name = token("amazon-mws", name="n" * 300, tid="long")
    assert "*" + "n" * 99 + "…*" in provider_reminder(sp, paired=[long_name])


def test_a_paired_name_that_spells_a_placeholder_stays_as_written():
    sp = token("amazon-sp-api", marketplace="uk")
    other = token("amazon-mws", name="{manage_apps} {other} {app}", tid="mws")
    assert "has *{manage_apps} {other} {app}* (Amazon MWS" in provider_reminder(sp, paired=[other])


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
