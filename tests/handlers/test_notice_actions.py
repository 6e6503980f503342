"""The Renew button for owners and non-owners, and for tokens that are gone."""

from __future__ import annotations

from datetime import timedelta

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import Token
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import seed, token


def posted_notice(engine, slack, owners):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=2), owners=owners)])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    return slack.messages["C0ALERTS"][0]


def test_non_owner_click_gets_an_ephemeral_explanation_and_no_form(engine, slack, bot):
    notice = posted_notice(engine, slack, ["U0OWNER"])
    assert bot.click(ids.RENEW_BUTTON, "t1", message=notice, user="U0OTHER") == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert eph.params["user"] == "U0OTHER" and eph.params["channel"] == "C0ALERTS"
    assert "only its owners" in eph.params["text"]
    settle()
    assert slack.calls_to("views.open") == []


def test_a_token_without_owners_is_for_its_channel_members(engine, slack, bot):
    notice = posted_notice(engine, slack, [])
    slack.channel_members["C0ALERTS"] = ["U0MEMBER"]
    bot.click(ids.RENEW_BUTTON, "t1", message=notice, user="U0MEMBER")
    slack.wait_for("views.open")
    assert slack.calls_to("chat.postEphemeral") == []
    bot.click(ids.RENEW_BUTTON, "t1", message=notice, user="U0ANYONE")
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert eph.params["user"] == "U0ANYONE" and "only members of <#C0ALERTS> can renew it" in eph.params["text"]
    settle()
    assert len(slack.calls_to("views.open")) == 1
    assert len(slack.calls_to("conversations.members")) == 1  # the second click used the cached member list


def test_click_for_a_deleted_token_explains_and_opens_nothing(engine, slack, bot):
    notice = posted_notice(engine, slack, [])
    with session_scope(engine) as s:
        s.delete(s.get(Token, "t1"))
    bot.click(ids.RENEW_BUTTON, "t1", message=notice)
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert "No token called `t1`" in eph.params["text"]
    settle()
    assert slack.calls_to("views.open") == []
