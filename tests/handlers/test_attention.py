"""The notice's "I'm on it", Snooze, Mute and Unmute through the bot's real HTTP stack, signed as Slack signs:
owners only, the notice edited in place, the audit written, and what a scan then does."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.slack_client import make_client
from storage.attention import is_muted
from storage.db import session_scope
from storage.models import Notice, NoticeState, Token, TokenEvent
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import seed, token
from tests.support.slack_requests import block_actions_payload, form_payload_body, state_values


def post_notice(engine, slack, *, owners=("U0OWNER",), days: float = 10) -> dict:
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=days), owners=list(owners))])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    return copy.deepcopy(slack.messages["C0ALERTS"][0])  # as first posted: the stand-in's copy is edited later


def elements(message: dict) -> dict[str, dict]:
    (actions,) = [b for b in message["blocks"] if b.get("block_id") == ids.NOTICE_ACTIONS_BLOCK]
    return {e["action_id"]: e for e in actions["elements"]}


def attention_text(message: dict) -> str:
    return " ".join(e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"])


def click(bot, message: dict, action_id: str, *, user: str = "U0OWNER") -> int:
    return bot.click(action_id, elements(message)[action_id]["value"], message=message, user=user)


def choose_snooze(bot, slack, message: dict, option: dict, *, user: str = "U0OWNER") -> int:
    payload = block_actions_payload(action_id=ids.SNOOZE_SELECT, block_id=ids.NOTICE_ACTIONS_BLOCK, user_id=user,
                                    message=message, response_url=slack.response_url("click"),
                                    action_type="static_select", selected_option=option)
    return bot.post(form_payload_body(payload))[0]


def stored(engine) -> tuple[Notice, Token, list[TokenEvent]]:
    with session_scope(engine) as s:
        notice = s.exec(select(Notice).order_by(Notice.id)).first()
        return notice, s.get(Token, "t1"), list(s.exec(select(TokenEvent).order_by(TokenEvent.id)).all())


def open_mute_form(bot, slack, message: dict) -> dict:
    assert click(bot, message, ids.MUTE_BUTTON) == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    assert view["callback_id"] == ids.MUTE_MODAL
    return view


def test_on_it_by_an_owner_edits_the_notice_and_records_it(engine, slack, bot):
    notice = post_notice(engine, slack)
    assert click(bot, notice, ids.ACK_BUTTON) == 200
    (update,) = slack.wait_for("chat.update")
    assert (update.params["channel"], update.params["ts"]) == ("C0ALERTS", notice["ts"])
    message = slack.messages["C0ALERTS"][0]
    assert ids.ACK_BUTTON not in elements(message)
    assert {ids.RENEW_BUTTON, ids.SNOOZE_SELECT, ids.MUTE_BUTTON} <= set(elements(message))
    assert f"<@U0OWNER> is on it since <!date^{int(NOW.timestamp())}^" in attention_text(message)
    assert "Token t1" in message["text"] and "2026-12-06" in message["text"]
    row, _, (event,) = stored(engine)
    assert (row.acked_by, row.acked_at) == ("U0OWNER", NOW)
    assert (event.action, event.by, event.stage) == ("acknowledged", "U0OWNER", "14d")
    assert slack.calls_to("chat.postEphemeral") == []


def test_snooze_by_an_owner_shows_until_when_and_a_forged_length_is_refused(engine, slack, bot):
    notice = post_notice(engine, slack, days=4)
    options = elements(notice)[ids.SNOOZE_SELECT]["options"]
    assert [o["text"]["text"] for o in options] == ["1 day", "3 days"]  # a week would end past the expiry
    forged = {"text": {"type": "plain_text", "text": "30 days"},
              "value": json.dumps({**json.loads(options[0]["value"]), "d": 30})}
    assert choose_snooze(bot, slack, notice, forged) == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert eph.params["user"] == "U0OWNER" and "can't be snoozed for that long" in eph.params["text"]
    settle()
    assert slack.calls_to("chat.update") == [] and stored(engine)[2] == []
    assert choose_snooze(bot, slack, notice, options[1]) == 200
    slack.wait_for("chat.update")
    until = NOW + timedelta(days=3)
    assert f":zzz: snoozed until <!date^{int(until.timestamp())}^" in attention_text(slack.messages["C0ALERTS"][0])
    assert "by <@U0OWNER>" in attention_text(slack.messages["C0ALERTS"][0])
    row, _, (event,) = stored(engine)
    assert (row.snoozed_until, row.snoozed_by, event.action) == (until, "U0OWNER", "snoozed")


@pytest.mark.parametrize("who", ["stranger", "guest"])
def test_strangers_and_guests_are_refused_every_control_and_nothing_changes(engine, slack, bot, who):
    if who == "stranger":
        notice, user, said = post_notice(engine, slack, owners=["U0OWNER"]), "U0OTHER", "only its owners"
    else:  # any full member may act on this token: a guest still may not
        notice, user, said = post_notice(engine, slack, owners=["*"]), "U0GUEST", "guests can act only"
        slack.guest("U0GUEST")
    before = stored(engine)
    for action_id in (ids.ACK_BUTTON, ids.MUTE_BUTTON):
        assert click(bot, notice, action_id, user=user) == 200
    assert choose_snooze(bot, slack, notice, elements(notice)[ids.SNOOZE_SELECT]["options"][0], user=user) == 200
    ephemerals = slack.wait_for("chat.postEphemeral", count=3)
    for eph in ephemerals:
        assert eph.params["user"] == user and eph.params["channel"] == "C0ALERTS"
        assert said in eph.params["text"] and "Token t1" in eph.params["text"]
    settle()
    assert slack.calls_to("views.open") == [] and slack.calls_to("chat.update") == []
    after = stored(engine)
    assert after[2] == [] and not is_muted(after[1])
    assert (after[0].acked_at, after[0].snoozed_until) == (before[0].acked_at, before[0].snoozed_until) == (None, None)


def test_mute_form_needs_text_for_other_then_mutes_and_the_scans_post_nothing_until_unmuted(
        engine, slack, bot, clock):
    notice = post_notice(engine, slack, days=10)
    view = open_mute_form(bot, slack, notice)
    other = {"selected_option": {"text": {"type": "plain_text", "text": "Other"}, "value": "other"}}
    status, answer = bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: other}))
    assert status == 200 and answer["response_action"] == "errors"
    assert list(answer["errors"]) == [ids.MUTE_TEXT_BLOCK] and "other" in answer["errors"][ids.MUTE_TEXT_BLOCK]
    assert not is_muted(stored(engine)[1]) and slack.calls_to("chat.update") == []
    status, answer = bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: other,
                                                          ids.MUTE_TEXT_BLOCK: {"value": "moved to the vault"}}))
    assert status == 200 and answer is None
    slack.wait_for("chat.update")
    message = slack.messages["C0ALERTS"][0]
    assert list(elements(message)) == [ids.RENEW_BUTTON, ids.UNMUTE_BUTTON]
    assert ":no_bell: muted by <@U0OWNER>: moved to the vault" in attention_text(message)
    _, token_row, (event,) = stored(engine)
    assert is_muted(token_row) and token_row.mute_reason == "moved to the vault"
    assert (event.action, event.detail) == ("muted", "moved to the vault")

    # The 7d threshold passes while muted: nothing is planned or posted.
    client, later = make_client("xoxb-test", slack.url), NOW + timedelta(days=4)
    report = scan(engine=engine, client=client, now=later)
    assert report.planned == 0 and report.delivery.sent == []
    assert len(slack.calls_to("chat.postMessage")) == 1

    clock.now = later
    assert click(bot, message, ids.UNMUTE_BUTTON) == 200
    slack.wait_for("chat.update", count=2)
    message = slack.messages["C0ALERTS"][0]
    assert {ids.ACK_BUTTON, ids.MUTE_BUTTON, ids.STEPS_BUTTON} <= set(elements(message))
    assert "muted" not in attention_text(message)
    assert [e.action for e in stored(engine)[2]] == ["muted", "unmuted"]
    report = scan(engine=engine, client=client, now=later)
    assert report.planned == 1 and len(report.delivery.sent) == 1
    assert "7d notice" in str(slack.messages["C0ALERTS"][-1]["blocks"])


def test_unmute_and_mute_are_for_owners_only(engine, slack, bot):
    notice = post_notice(engine, slack)
    view = open_mute_form(bot, slack, notice)
    retired = {"selected_option": {"text": {"type": "plain_text", "text": "Retired"}, "value": "retired"}}
    # A stranger submitting the form (say, one forwarded to them): refused inline, nothing changed.
    status, answer = bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: retired}), user="U0OTHER")
    assert status == 200 and answer["response_action"] == "errors"
    assert "owners" in answer["errors"][ids.MUTE_REASON_BLOCK]
    assert not is_muted(stored(engine)[1])
    assert bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: retired}))[1] is None
    slack.wait_for("chat.update")
    muted = slack.messages["C0ALERTS"][0]
    assert click(bot, muted, ids.UNMUTE_BUTTON, user="U0OTHER") == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert eph.params["user"] == "U0OTHER" and "only its owners" in eph.params["text"]
    settle()
    assert is_muted(stored(engine)[1]) and [e.action for e in stored(engine)[2]] == ["muted"]


def test_after_a_renewal_the_mute_is_over_and_the_old_controls_say_already_renewed(engine, slack, bot):
    notice = post_notice(engine, slack)
    view = open_mute_form(bot, slack, notice)
    retired = {"selected_option": {"text": {"type": "plain_text", "text": "Retired"}, "value": "retired"}}
    assert bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: retired}))[1] is None
    slack.wait_for("chat.update")
    # Renew from the muted notice: the form, the new secret, the resolved notice.
    muted = slack.messages["C0ALERTS"][0]
    assert click(bot, muted, ids.RENEW_BUTTON) == 200
    slack.wait_for("views.open", count=2)
    form = next(v for v in slack.views.values() if v["callback_id"] == ids.RENEW_MODAL)
    status, answer = bot.submit(form, state_values(form, {ids.SECRET_BLOCK: {"value": f"amzn.mws.{uuid.uuid4()}"}}))
    assert status == 200 and answer is None
    slack.wait_for("chat.update", count=2)
    resolved = slack.messages["C0ALERTS"][0]
    assert "was renewed by <@U0OWNER>" in str(resolved["blocks"])
    assert not [b for b in resolved["blocks"] if b["type"] == "actions"]  # no "I'm on it", Snooze or Unmute left
    row, token_row, _ = stored(engine)
    assert row.state == NoticeState.CLOSED and not is_muted(token_row)  # the new expiry ended the mute
    # A click still on screen somewhere (the pre-renewal message) is refused, nothing changes.
    assert click(bot, notice, ids.ACK_BUTTON) == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert "already renewed" in eph.params["text"]
    settle()
    assert stored(engine)[0].acked_at is None and len(slack.calls_to("chat.update")) == 2
