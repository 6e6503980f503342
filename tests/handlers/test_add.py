"""`/renew-token add` end to end over signed HTTP: open, submit, refusals, and the user-group picker."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from renewbot.blocks import ids
from storage.db import session_scope
from storage.models import Token, TokenAccount
from tests.conftest import NOW
from tests.support.bot_server import BotServer, settle, standin_settings
from tests.support.seed import account, seed, token
from tests.support.slack_requests import block_suggestion_payload, form_payload_body, state_values

ADMINS = ("U0ADMIN", "S0ADMINS")


@pytest.fixture
def admin_bot(slack, deps):
    slack.usergroups.setdefault("S0ADMINS", [])
    with BotServer(standin_settings(slack.url, admins=ADMINS), deps, slack) as server:
        yield server


@pytest.fixture
def world(engine, slack):
    seed(engine, now=NOW, accounts=[account("amazon-uk"), account("amazon-de")],
         tokens=[token("existing", NOW + timedelta(days=50), name="Existing token", owners=["U0SOMEONE"])])
    # Without admins the adder must be in the token's channel (users.conversations answers from these).
    slack.channel_members.update({"C0ALERTS": ["U0OWNER"], "C0OUTSIDE": ["U0OWNER"], "G0PRIVATE": ["U0OWNER"],
                                  "C0OLD": ["U0OWNER"]})
    return engine


def open_add(bot, slack, *, user="U0OWNER", text="add", channel="C0ALERTS") -> dict:
    status, body = bot.command(text, user=user, channel=channel)
    assert (status, body) == (200, b"")
    (opened,) = slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == ids.ADD_MODAL
    return list(slack.views.values())[-1]  # as stored: with its id and hash


def filled(view: dict, **over) -> dict:
    fields = {
        ids.ADD_NAME_BLOCK: {"value": over.get("name", "Amazon EU SP-API")},
        ids.ADD_ID_BLOCK: {"value": over.get("token_id")},
        ids.ADD_KIND_BLOCK: {"selected_option": {"text": {"type": "plain_text", "text": "x"},
                                                 "value": over.get("kind", "amazon-sp-api")}},
        ids.ADD_EXPIRY_BLOCK: {"selected_date": over.get("expiry", "2027-06-01")},
        ids.ADD_CHANNEL_BLOCK: {"selected_conversation": over.get("channel", "C0ALERTS")},
        ids.ADD_OWNER_USERS_BLOCK: {"selected_users": list(over.get("users", []))},
        ids.ADD_OWNER_GROUPS_BLOCK: {"selected_options": [{"text": {"type": "plain_text", "text": g}, "value": g}
                                                          for g in over.get("groups", [])]},
        ids.ADD_ACCOUNTS_BLOCK: {"selected_options": [{"text": {"type": "plain_text", "text": a}, "value": a}
                                                      for a in over.get("accounts", ["amazon-uk"])]},
    }
    return state_values(view, fields)


def tokens(engine) -> list[tuple]:
    with session_scope(engine) as s:
        return [(t.id, t.name, t.kind, t.expires_at, t.channel, tuple(t.owners), t.version)
                for t in s.exec(select(Token).order_by(Token.id)).all()]


def test_add_opens_the_modal_and_a_submit_creates_the_token_with_the_adder_as_owner(world, slack, bot, caplog):
    view = open_add(bot, slack)
    assert "default_to_current_conversation" in json.dumps(view)
    with caplog.at_level(logging.INFO, logger="handlers.add"):
        status, answer = bot.submit(view, filled(view, users=["U0ANNA"]), user="U0OWNER")
    assert status == 200 and answer["response_action"] == "update"
    shown = json.dumps(answer["view"])
    assert "amazon-eu-sp-api" in shown and "next scan" not in shown  # 2027-06-01: its first notice comes later
    with session_scope(world) as s:
        tok = s.get(Token, "amazon-eu-sp-api")
        assert (tok.name, tok.kind, tok.channel) == ("Amazon EU SP-API", "amazon-sp-api", "C0ALERTS")
        assert tok.owners == ["U0ANNA", "U0OWNER"]
        assert tok.expires_at == datetime(2027, 6, 1, tzinfo=UTC) and tok.secret_encrypted is None
        links = s.exec(select(TokenAccount.account_id).where(TokenAccount.token_id == tok.id)).all()
        assert list(links) == ["amazon-uk"]
    assert [c.params["channel"] for c in slack.calls_to("conversations.info")] == ["C0ALERTS"]
    (line,) = [r for r in caplog.records if r.name == "handlers.add" and r.levelno == logging.INFO]
    assert "amazon-eu-sp-api added by U0OWNER" in line.getMessage()


def test_the_new_token_is_found_by_renew_token_at_once(world, slack, bot):
    view = open_add(bot, slack)
    bot.submit(view, filled(view, name="Fresh key", kind="generic", accounts=[]))
    bot.command("fresh-key")
    opened = slack.wait_for("views.open", 2)[-1]
    assert opened.params["view"]["callback_id"] == ids.RENEW_MODAL
    assert '"token_id":"fresh-key"' in opened.params["view"]["private_metadata"]


def test_an_existing_id_is_an_inline_error_and_nothing_changes(world, slack, bot):
    view = open_add(bot, slack)
    before = tokens(world)
    status, answer = bot.submit(view, filled(view, token_id="existing", name="Something else"))
    assert status == 200 and answer["response_action"] == "errors"
    assert "`existing` already exists" in answer["errors"][ids.ADD_ID_BLOCK]
    assert tokens(world) == before


@pytest.mark.parametrize("channel", ["C0OUTSIDE", "G0PRIVATE"])
def test_a_channel_the_bot_is_not_in_says_how_to_invite_it(world, slack, bot, channel):
    slack.outside_channels.add(channel)  # a private one answers channel_not_found, as Slack does
    view = open_add(bot, slack)
    before = tokens(world)
    _, answer = bot.submit(view, filled(view, channel=channel))
    assert "/invite @renewbot" in answer["errors"][ids.ADD_CHANNEL_BLOCK]
    assert tokens(world) == before


def test_an_archived_channel_is_refused_inline(world, slack, bot):
    slack.archived_channels.add("C0OLD")
    view = open_add(bot, slack)
    _, answer = bot.submit(view, filled(view, channel="C0OLD"))
    assert "archived" in answer["errors"][ids.ADD_CHANNEL_BLOCK]


def test_problems_land_under_their_fields_together(world, slack, bot):
    view = open_add(bot, slack)
    before = tokens(world)
    _, answer = bot.submit(view, filled(view, expiry=NOW.date().isoformat(), accounts=["nope"], token_id="bad id"))
    assert set(answer["errors"]) == {ids.ADD_EXPIRY_BLOCK, ids.ADD_ACCOUNTS_BLOCK, ids.ADD_ID_BLOCK}
    assert tokens(world) == before


def test_with_admins_a_non_admin_is_refused_when_opening_and_when_submitting(world, slack, admin_bot):
    admin_bot.command("add", user="U0NOBODY")
    (reply,) = slack.wait_for("response_url:cmd")
    assert reply.params["response_type"] == "ephemeral"
    assert "Only renewbot's admins can add tokens (<@U0ADMIN>, <!subteam^S0ADMINS>)" in reply.params["text"]
    settle()
    assert slack.calls_to("views.open") == []
    view = open_add(admin_bot, slack, user="U0ADMIN")
    before = tokens(world)
    _, answer = admin_bot.submit(view, filled(view), user="U0NOBODY")  # a form passed on, or a forged submit
    assert "Only renewbot's admins" in answer["errors"][ids.ADD_NAME_BLOCK]
    assert tokens(world) == before


def test_an_admin_through_a_group_adds_and_owners_stay_empty_when_none_are_picked(world, slack, admin_bot):
    slack.usergroups["S0ADMINS"] = ["U0GROUPIE"]
    view = open_add(admin_bot, slack, user="U0GROUPIE")
    assert "members of the channel may renew it" in json.dumps(view)
    _, answer = admin_bot.submit(view, filled(view, accounts=[]), user="U0GROUPIE")
    assert answer["response_action"] == "update"
    assert "none: the members of <#C0ALERTS> may renew it" in json.dumps(answer["view"])
    with session_scope(world) as s:
        assert s.get(Token, "amazon-eu-sp-api").owners == []


def test_a_guest_may_not_add_when_no_admins_are_set(world, slack, bot):
    slack.guest("U0GUEST")
    bot.command("add", user="U0GUEST")
    (reply,) = slack.wait_for("response_url:cmd")
    assert "Guests can't add tokens" in reply.params["text"]
    settle()
    assert slack.calls_to("views.open") == []


def test_the_group_picker_lists_groups_matching_what_was_typed(world, slack, bot):
    slack.usergroups.update({"S0OPS": ["U0A"], "S0SALES": ["U0B"], "S0DEVOPS": ["U0C"]})
    slack.usergroup_handles.update({"S0OPS": "ops-team", "S0SALES": "sales", "S0DEVOPS": "devops"})
    view = open_add(bot, slack)

    def suggest(typed: str) -> list[str]:
        payload = block_suggestion_payload(action_id=ids.OWNER_GROUP_SEARCH, value=typed, view=view,
                                           block_id=ids.ADD_OWNER_GROUPS_BLOCK, user_id="U0OWNER")
        status, _, body = bot.post(form_payload_body(payload))
        assert status == 200
        return [o["value"] for o in json.loads(body)["options"]]

    assert suggest("ops") == ["S0OPS", "S0DEVOPS"]
    assert suggest("sal") == ["S0SALES"]
    assert suggest("zzz") == []
    assert len(slack.calls_to("usergroups.list")) == 1  # kept a few minutes, not asked on every keystroke
    bot.submit(view, filled(view, groups=["S0OPS"], accounts=[]))
    with session_scope(world) as s:
        assert s.get(Token, "amazon-eu-sp-api").owners == ["U0OWNER", "S0OPS"]


def test_the_accounts_picker_of_the_add_form_offers_accounts_in_service(world, slack, bot):
    view = open_add(bot, slack)
    payload = block_suggestion_payload(action_id=ids.ACCOUNT_SEARCH, value="amazon", view=view,
                                       block_id=ids.ADD_ACCOUNTS_BLOCK, user_id="U0OWNER")
    status, _, body = bot.post(form_payload_body(payload))
    assert status == 200
    assert {o["value"] for o in json.loads(body)["options"]} == {"amazon-uk", "amazon-de"}


# --- without admins, the adder must be in the channel its notices (and reminders) go to ---------------------

def test_without_admins_a_channel_the_adder_is_not_in_is_refused_inline(world, slack, bot):
    slack.channel_members["C0ELSEWHERE"] = ["U0SOMEONE"]  # the bot is in it; the adder is not
    view = open_add(bot, slack)
    before = tokens(world)
    _, answer = bot.submit(view, filled(view, channel="C0ELSEWHERE"), user="U0OWNER")
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {ids.ADD_CHANNEL_BLOCK: (
        "You are not a member of this channel: its notices would mention people there. Pick a channel you are "
        "in, or join this one and submit again (the form stays open).")}
    assert tokens(world) == before
    assert [c.params["user"] for c in slack.calls_to("users.conversations")] == ["U0OWNER"]


def test_without_admins_an_unreadable_membership_refuses_and_says_try_again(world, slack, bot):
    slack.fail_next("users.conversations", error="internal_error")  # Slack can't say which channels the adder is in
    view = open_add(bot, slack)
    before = tokens(world)
    _, answer = bot.submit(view, filled(view))
    assert "could not check this channel" in answer["errors"][ids.ADD_CHANNEL_BLOCK]
    assert tokens(world) == before


def test_with_admins_an_admin_may_pick_a_channel_they_are_not_in(world, slack, admin_bot):
    slack.channel_members["C0ELSEWHERE"] = ["U0SOMEONE"]
    view = open_add(admin_bot, slack, user="U0ADMIN")
    _, answer = admin_bot.submit(view, filled(view, channel="C0ELSEWHERE", accounts=[]), user="U0ADMIN")
    assert answer["response_action"] == "update"
    assert slack.calls_to("users.conversations") == []  # not asked: admins choose any channel


# --- the user-group list: one refresher at a time, nobody waits behind it once a list is known --------------

class SlowGroups:
    """A usergroups.list that answers only when the test lets it, counting the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = False

    def usergroups_list(self, **_):
        self.calls += 1
        self.entered.set()
        assert self.release.wait(5), "the test never released usergroups.list"
        if self.fail:
            raise ConnectionError("slack is down")
        return {"usergroups": [{"id": f"S0G{self.calls}", "handle": f"group-{self.calls}", "name": ""}]}


def in_thread(call) -> tuple[threading.Thread, list]:
    out: list = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    return worker, out


def test_a_slow_refresh_blocks_no_keystroke_once_a_list_is_known():
    from handlers.add import UserGroups
    now = [0.0]
    client = SlowGroups()
    groups = UserGroups(client, ttl=60, clock=lambda: now[0])
    client.release.set()
    assert groups.get() == [("S0G1", "group-1", "")]
    client.release.clear()
    client.entered.clear()
    now[0] = 61.0  # stale: the next keystroke refreshes
    refresher, refreshed = in_thread(groups.get)
    assert client.entered.wait(5)
    started = time.monotonic()
    assert groups.get() == [("S0G1", "group-1", "")]  # the last list, at once, while Slack is slow
    assert groups.get() == [("S0G1", "group-1", "")]
    assert time.monotonic() - started < 1.0 and client.calls == 2  # no second refresher
    client.release.set()
    refresher.join(5)
    assert refreshed == [[("S0G2", "group-2", "")]] and groups.get() == [("S0G2", "group-2", "")]


def test_before_any_list_keystrokes_wait_for_the_one_first_call_and_a_failure_keeps_the_old_list():
    from handlers.add import UserGroups
    now = [0.0]
    client = SlowGroups()
    groups = UserGroups(client, ttl=60, clock=lambda: now[0], first_wait=5)
    first, got_first = in_thread(groups.get)
    assert client.entered.wait(5)
    second, got_second = in_thread(groups.get)  # nothing to show yet: waits for the first answer
    client.release.set()
    first.join(5)
    second.join(5)
    assert got_first == got_second == [[("S0G1", "group-1", "")]] and client.calls == 1
    now[0], client.fail = 61.0, True
    assert groups.get() == [("S0G1", "group-1", "")]  # refresh failed: the old list stands a while
    assert groups.get() == [("S0G1", "group-1", "")] and client.calls == 2  # not asked again at once
