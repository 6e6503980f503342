"""The notice's "I'm on it", Snooze, Mute and Unmute through the bot's real HTTP stack, signed as Slack signs:
owners only, the notice edited in place, the audit written, and what a scan then does."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from handlers.attention_payload import read_attention_click, read_mute_submission
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.log_context import current_ids
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


def open_mute_form(bot, slack, message: dict, *, count: int = 1, user: str = "U0OWNER") -> dict:
    assert click(bot, message, ids.MUTE_BUTTON, user=user) == 200
    slack.wait_for("views.open", count=count)
    view = list(slack.views.values())[-1]
    assert view["callback_id"] == ids.MUTE_MODAL
    return view


RETIRED = {"selected_option": {"text": {"type": "plain_text", "text": "Retired"}, "value": "retired"}}


class IdsSeen(logging.Handler):
    """What each line logged by the attention use case carried as ids (what LOG_FORMAT=json writes out)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, dict]] = []

    def emit(self, record: logging.LogRecord) -> None:  # on the thread that logs: the handler's own context
        self.lines.append((record.getMessage(), dict(current_ids())))


@pytest.fixture
def ids_seen():
    log = logging.getLogger("renewbot.usecases.attention")
    seen, level = IdsSeen(), log.level
    log.addHandler(seen)
    log.setLevel(logging.INFO)
    yield seen
    log.removeHandler(seen)
    log.setLevel(level)


def test_on_it_by_an_owner_edits_the_notice_and_records_it(engine, slack, bot, ids_seen):
    notice = post_notice(engine, slack, owners=["U0OWNER", "U0LATE"])
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
    (line,) = [ids for message, ids in ids_seen.lines if "acknowledged by U0OWNER" in message]
    assert line["token"] == "t1"  # JSON log lines say which token the click was about
    # The same button clicked again (a race, or a copy of the message not edited yet): refused, nothing edited.
    assert click(bot, notice, ids.ACK_BUTTON, user="U0LATE") == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert (eph.params["user"], eph.params["text"]) == ("U0LATE",
                                                        "<@U0OWNER> is already on *Token t1*: nothing was changed.")
    settle()
    assert len(slack.calls_to("chat.update")) == 1 and len(stored(engine)[2]) == 1


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
    assert (f":no_bell: muted by <@U0OWNER> since <!date^{int(NOW.timestamp())}^{{date_long_pretty}} at {{time}}"
            "|2026-11-26 12:00 UTC>: moved to the vault") in attention_text(message)
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


def test_owners_changed_after_the_mute_form_opened_refuse_the_submission_inline(engine, slack, bot, ids_seen):
    notice = post_notice(engine, slack)
    view = open_mute_form(bot, slack, notice)  # opened by an owner
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=10), owners=["U0NEW"])])  # an import lands
    status, answer = bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: RETIRED}))
    assert status == 200 and answer["response_action"] == "errors"
    assert list(answer["errors"]) == [ids.MUTE_REASON_BLOCK] and "owners" in answer["errors"][ids.MUTE_REASON_BLOCK]
    settle()
    _, token_row, events = stored(engine)
    assert not is_muted(token_row) and token_row.muted_by is None and events == []
    assert slack.calls_to("chat.update") == []
    # The new owner may: the form it opens is answered as usual.
    view = open_mute_form(bot, slack, notice, count=2, user="U0NEW")
    assert bot.submit(view, state_values(view, {ids.MUTE_REASON_BLOCK: RETIRED}), user="U0NEW")[1] is None
    slack.wait_for("chat.update")
    assert stored(engine)[1].muted_by == "U0NEW"
    assert ("token", "t1") in ids_seen.lines[-1][1].items() and "muted by U0NEW" in ids_seen.lines[-1][0]


def test_a_token_is_muted_once_a_stale_button_and_a_second_form_are_refused(engine, slack, bot):
    notice = post_notice(engine, slack, owners=["U0OWNER", "U0OTHER"])
    # Two owners open the form before either submits.
    first = open_mute_form(bot, slack, notice)
    second = open_mute_form(bot, slack, notice, count=2, user="U0OTHER")
    assert bot.submit(first, state_values(first, {ids.MUTE_REASON_BLOCK: RETIRED}))[1] is None
    slack.wait_for("chat.update")
    elsewhere = {"selected_option": {"text": {"type": "plain_text", "text": "Handled elsewhere"},
                                     "value": "elsewhere"}}
    status, answer = bot.submit(second, state_values(second, {ids.MUTE_REASON_BLOCK: elsewhere}), user="U0OTHER")
    assert status == 200 and answer == {"response_action": "errors", "errors": {
        ids.MUTE_REASON_BLOCK: "Token t1 is already muted (the notice says by whom): nothing was changed."}}
    # The Mute button on a copy of the notice from before the mute: no form, the person is told who muted it.
    assert click(bot, notice, ids.MUTE_BUTTON, user="U0OTHER") == 200
    (eph,) = slack.wait_for("chat.postEphemeral")
    assert (eph.params["user"], eph.params["text"]) == (
        "U0OTHER", "*Token t1* is already muted by <@U0OWNER>: nothing was changed.")
    settle()
    assert len(slack.calls_to("views.open")) == 2 and len(slack.calls_to("chat.update")) == 1
    _, token_row, events = stored(engine)
    assert (token_row.muted_by, token_row.mute_reason) == ("U0OWNER", "retired")
    assert [(e.action, e.by) for e in events] == [("muted", "U0OWNER")]
    since = f"since <!date^{int(NOW.timestamp())}^"
    assert f":no_bell: muted by <@U0OWNER> {since}" in attention_text(slack.messages["C0ALERTS"][0])


@pytest.mark.parametrize("body", [
    None, [], "x", {"view": {"private_metadata": "not json"}},
    {"view": {"private_metadata": '{"t": "t1", "e": "2026-12-06T12:00:00", "s": "14d"}'}},  # no time zone
    {"view": {"private_metadata": json.dumps({"t": "t1", "e": "2026-12-06T12:00:00+00:00", "s": ["14d"]})}},
    {"view": {"private_metadata": "x" * 4000}, "user": {"id": "U0OWNER"}},
    {"actions": [{"action_id": ids.SNOOZE_SELECT, "selected_option": {"value": '{"d": "7"}'}}]},
])
def test_unreadable_attention_payloads_read_as_no_notice(body):
    assert read_mute_submission(body).ref is None
    click = read_attention_click(body)
    assert click.ref is None and click.days is None


def test_the_mute_form_reads_back_the_notice_it_was_opened_from():
    metadata = json.dumps({"t": "t1", "e": "2026-12-06T12:00:00+00:00", "s": "14d"})
    values = {ids.MUTE_REASON_BLOCK: {ids.MUTE_REASON_INPUT: {"selected_option": {"value": "retired"}}},
              ids.MUTE_TEXT_BLOCK: {ids.MUTE_TEXT_INPUT: {"value": 42}}}
    read = read_mute_submission({"view": {"private_metadata": metadata, "state": {"values": values}},
                                 "user": {"id": "U0OWNER"}})
    assert (read.ref.token_id, read.ref.expires_at.isoformat(), read.ref.stage) == (
        "t1", "2026-12-06T12:00:00+00:00", "14d")
    assert (read.user_id, read.reason, read.text) == ("U0OWNER", "retired", None)
