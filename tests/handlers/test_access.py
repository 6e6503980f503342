"""Who may act on a token: named owners, group members, the channel's members, the workspace; never guests
or Slack Connect users unless named. Slack's answers are cached, and what Slack does not answer refuses."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlmodel import col, update

from handlers.access import Access
from handlers.lookups import FormLookups
from renewbot.blocks import ids
from storage.db import session_scope
from storage.models import Token
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import seed, token
from tests.support.slack_requests import block_suggestion_payload, form_payload_body, state_values
from tests.support.slack_standin import SlackStandin


@pytest.fixture
def standin():
    with SlackStandin() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def now():
    return [0.0]


@pytest.fixture
def access(standin, now):
    client = WebClient(token="xoxb-test", base_url=standin.url, retry_handlers=[], timeout=5)
    return Access(client, ttl=180, failure_ttl=15, clock=lambda: now[0])


def open_to_all(engine, token_ids) -> None:
    """owners: ["*"] for these tokens. Set in the database: the importer does not accept "*" yet."""
    with session_scope(engine) as s:
        s.exec(update(Token).where(col(Token.id).in_(list(token_ids))).values(owners=["*"]))


def slack_calls(standin) -> list[str]:
    return [c.method for c in standin.calls]


def test_named_owners_and_group_members_may_act_without_asking_who_they_are(standin, access):
    standin.usergroups["S0OPS"] = ["U0GUEST"]
    standin.guest("U0GUEST")
    standin.guest("U0NAMED")
    assert access.decide("U0NAMED", ["U0NAMED"], "C1").allowed  # a guest named explicitly
    assert access.decide("U0GUEST", ["U0OWNER", "S0OPS"], "C1").why == "group"  # a group is explicit naming
    refused = access.decide("U0OTHER", ["U0OWNER", "S0OPS"], "C1")
    assert (refused.allowed, refused.why) == (False, "not_owner")
    assert slack_calls(standin) == ["usergroups.users.list"]  # cached; and no users.info for named tokens


def test_no_owners_means_the_members_of_the_tokens_channel(standin, access):
    standin.channel_members["C1"] = ["U0IN"]
    assert access.decide("U0IN", [], "C1").why == "channel"
    out = access.decide("U0OUT", [], "C1")
    assert (out.allowed, out.why, out.channel) == (False, "not_in_channel", "C1")
    assert not access.may_act("U0IN", [], "C2")  # another channel's token: C2's members, unreadable here


def test_a_guest_is_refused_even_in_the_channel_and_even_for_the_whole_workspace(standin, access):
    standin.channel_members["C1"] = ["U0GUEST", "U0SINGLE"]
    standin.guest("U0GUEST")
    standin.guest("U0SINGLE", ultra=True)
    for user in ("U0GUEST", "U0SINGLE"):
        assert access.decide(user, [], "C1").why == "guest"
        assert access.decide(user, ["*"], "C1").why == "guest"
        assert not access.may_act(user, ["U0OWNER", "*"], "C1")
    assert slack_calls(standin).count("users.info") == 2  # once per person


def test_a_slack_connect_user_is_refused_unless_named(standin, access):
    standin.channel_members["C1"] = ["U0EXT"]
    standin.external("U0EXT", "T0PARTNER")
    assert access.decide("U0EXT", [], "C1").why == "other_team"
    assert access.decide("U0EXT", ["*"], "C1").why == "other_team"
    assert access.decide("U0EXT", ["U0EXT"], "C1").allowed
    # An Enterprise Grid member whose home workspace differs, but who belongs to ours, is a full member.
    standin.users["U0GRID"] = {"team_id": "T0HOME", "enterprise_user": {"teams": ["T0HOME", "T0TEST"]}}
    assert access.decide("U0GRID", ["*"], "C1").allowed
    assert slack_calls(standin).count("auth.test") == 1  # the installation's team, asked once


def test_star_means_every_full_member_of_the_workspace(standin, access):
    standin.users["U0GONE"] = {"deleted": True}
    standin.users["U0BOT"] = {"is_bot": True}
    assert access.decide("U0ANYONE", ["*"], "C1").why == "workspace"
    assert access.decide("U0GONE", ["*"], "C1").why == "not_full_member"
    assert access.decide("U0BOT", ["*"], "C1").why == "not_full_member"
    assert "conversations.members" not in slack_calls(standin)  # the channel does not matter for "*"


def test_a_team_learnt_from_bolt_saves_the_auth_test(standin, access):
    access.learn_team("T0TEST")
    assert access.may_act("U0ANYONE", ["*"], "C1")
    assert slack_calls(standin) == ["users.info"]


@pytest.mark.parametrize("method", ["users.info", "conversations.members", "auth.test", "usergroups.users.list"])
def test_slack_errors_refuse_and_are_not_retried_on_every_click(standin, access, now, method, caplog):
    standin.channel_members["C1"] = ["U0IN"]
    standin.usergroups["S0OPS"] = ["U0IN"]
    owners = ["U0OWNER", "S0OPS"] if method == "usergroups.users.list" else []
    standin.fail_next(method, error="internal_error")
    refused = access.decide("U0IN", owners, "C1")
    assert (refused.allowed, refused.why) == (False, "unverified")
    assert "refusing" in caplog.text
    assert not access.may_act("U0IN", owners, "C1")  # the failure is remembered for a few seconds
    assert len(standin.calls_to(method)) == 1
    now[0] = 16
    assert access.may_act("U0IN", owners, "C1")  # then asked again
    assert len(standin.calls_to(method)) == 2


def test_a_group_slack_says_is_gone_names_no_one_and_that_answer_is_kept(standin, access, now, caplog):
    standin.usergroups["S0OPS"] = ["U0IN"]  # S0GONE is not there: usergroups.users.list answers no_such_subteam
    owners = ["S0GONE", "S0OPS"]
    assert access.decide("U0IN", owners, "C1").why == "group"
    refused = access.decide("U0OUT", owners, "C1")
    assert (refused.allowed, refused.why) == (False, "not_owner")  # an answer, not "unverified"
    assert access.group_members("S0GONE") == frozenset()
    now[0] = 170  # kept like a value (TTL), not like a failure (15 s)
    assert not access.may_act("U0OUT", owners, "C1")
    assert [c.params["usergroup"] for c in standin.calls_to("usergroups.users.list")] == ["S0GONE", "S0OPS"]
    assert "user group S0GONE: no_such_subteam; it names no one" in caplog.text


def test_a_group_slack_cannot_read_just_now_stays_unverified(standin, access, now):
    standin.usergroups["S0OPS"] = ["U0IN"]
    standin.fail_next("usergroups.users.list", status=503)
    assert access.group_members("S0OPS") is None
    assert access.decide("U0IN", ["S0OPS"], "C1").why == "unverified"
    now[0] = 16  # a failure is kept for FAILURE_TTL only
    assert access.decide("U0IN", ["S0OPS"], "C1").why == "group"


def test_many_unknown_groups_cost_one_usergroups_list(standin, access, now):
    groups = [f"S0G{n:02d}" for n in range(30)]
    standin.usergroups.update({g: [f"U0M{n:02d}"] for n, g in enumerate(groups)})
    rows = [(f"t{n}", f"Token {n}", [g], "C1") for n, g in enumerate(groups)]
    rows.append(("gone", "Token gone", ["S0GONE"], "C1"))  # not in usergroups.list: asked on its own
    assert access.allowed_choices("U0M07", rows) == [("t7", "Token 7")]
    assert slack_calls(standin) == ["usergroups.list", "usergroups.users.list"]
    (listed,) = standin.calls_to("usergroups.list")
    assert listed.params["include_users"] in ("1", "true")
    assert access.allowed_choices("U0M29", rows) == [("t29", "Token 29")]  # warm: no call at all
    assert len(standin.calls) == 2
    now[0] = 181
    standin.fail_next("usergroups.list", error="internal_error")
    assert access.allowed_choices("U0M07", rows) == []  # Slack failed: refused, and not asked 30 times instead
    assert slack_calls(standin)[2:] == ["usergroups.list"]


def test_a_group_usergroups_list_shows_disabled_names_no_one():
    class Client:  # only what Slack answers matters here: a disabled group still lists its former members
        def usergroups_list(self, **kw):
            assert kw == {"include_users": True, "include_disabled": True}
            return {"usergroups": [{"id": f"S0G{n}", "users": ["U0ME"], "date_delete": 1700000000 if n == 0 else 0}
                                   for n in range(5)]}
    access = Access(Client(), team_id="T0TEST")
    assert access.allowed_choices("U0ME", [(f"t{n}", f"T{n}", [f"S0G{n}"], "C1") for n in range(5)]) == [
        (f"t{n}", f"T{n}") for n in range(1, 5)]
    assert access.group_members("S0G0") == frozenset()


def test_a_few_unknown_groups_are_asked_one_by_one(standin, access):
    standin.usergroups.update({"S0A": ["U0ME"], "S0B": [], "S0C": []})
    rows = [("a", "A", ["S0A"], "C1"), ("b", "B", ["S0B"], "C1"), ("c", "C", ["S0C"], "C1")]
    assert access.allowed_choices("U0ME", rows) == [("a", "A")]
    assert slack_calls(standin) == ["usergroups.users.list"] * 3


def test_connection_errors_refuse(access):
    dead = Access(WebClient(token="x", base_url="http://127.0.0.1:9/api/", retry_handlers=[], timeout=1))
    assert dead.decide("U0IN", [], "C1").why == "unverified"
    assert not dead.may_act("U0IN", ["*"], "C1")


def test_answers_are_cached_for_the_ttl(standin, access, now):
    standin.channel_members["C1"] = ["U0IN"]
    assert access.may_act("U0IN", [], "C1")
    cold = slack_calls(standin)
    assert cold == ["users.info", "auth.test", "conversations.members"]
    standin.channel_members["C1"] = []  # left the channel
    now[0] = 179
    assert access.may_act("U0IN", [], "C1")  # still within the TTL: no call, the old answer
    assert slack_calls(standin) == cold
    now[0] = 181
    assert not access.may_act("U0IN", [], "C1")
    assert slack_calls(standin) == [*cold, "users.info", "conversations.members"]


def test_channel_members_are_read_page_by_page(standin, access):
    standin.channel_members["C1"] = [f"U{n:05d}" for n in range(2500)]
    assert access.may_act("U02499", [], "C1") and not access.may_act("U0OUT", [], "C1")
    pages = standin.calls_to("conversations.members")
    assert [p.params.get("limit") for p in pages] == ["1000"] * 3
    assert "cursor" not in pages[0].params and pages[1].params["cursor"]


def test_concurrent_lookups_share_one_call(standin, access):
    import threading
    standin.channel_members["C1"] = ["U0IN"]
    standin.hold_reply_next("conversations.members", 0.3)
    access.learn_team("T0TEST")
    access.person("U0IN")
    results = []
    threads = [threading.Thread(target=lambda: results.append(access.may_act("U0IN", [], "C1"))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 5 and len(standin.calls_to("conversations.members")) == 1


# --- the picker -----------------------------------------------------------------------------

def thousand_tokens(engine, channels=("C0A", "C0B", "C0C", "C0D", "C0E")):
    tokens = []
    for n in range(1000):
        owners = [] if n % 2 else ["U0OWNER"]
        tokens.append(token(f"t{n:04d}", NOW + timedelta(days=30), kind="generic", name=f"Token {n:04d}",
                            channel=channels[n % len(channels)], owners=owners))
    seed(engine, now=NOW, tokens=tokens)
    open_to_all(engine, [f"t{n:04d}" for n in range(0, 1000, 4)])


def test_picker_over_1000_tokens_costs_a_few_calls_cold_and_none_warm(sqlite_engine, standin, access):
    thousand_tokens(sqlite_engine)
    standin.channel_members.update({"C0A": ["U0ME"], "C0B": ["U0ME"], "C0C": [], "C0D": [], "C0E": []})
    lookups = FormLookups(sqlite_engine)
    started = time.perf_counter()
    mine = access.allowed_choices("U0ME", lookups.search_tokens("", 10_000))
    cold = time.perf_counter() - started
    assert len(standin.calls) <= 7, slack_calls(standin)
    # the "*" tokens (every 4th), and the tokens without owners in C0A and C0B (odd n with n % 5 in 0, 1)
    expected = {n for n in range(1000) if n % 4 == 0 or (n % 2 and n % 5 in (0, 1))}
    assert {int(tid[1:]) for tid, _ in mine} == expected
    calls = len(standin.calls)
    started = time.perf_counter()
    again = access.allowed_choices("U0ME", lookups.search_tokens("", 10_000))
    warm = time.perf_counter() - started
    assert again == mine and len(standin.calls) == calls  # within the TTL: no Slack call at all
    assert cold < 1.0 and warm < 0.1, (cold, warm)


def test_picker_over_few_channels_asks_each_channel(sqlite_engine, standin, access):
    thousand_tokens(sqlite_engine, channels=("C0A", "C0B", "C0C"))
    standin.channel_members.update({"C0A": ["U0ME"], "C0B": [], "C0C": []})
    access.allowed_choices("U0ME", FormLookups(sqlite_engine).search_tokens("", 10_000))
    assert sorted(slack_calls(standin)) == ["auth.test"] + ["conversations.members"] * 3 + ["users.info"]


def test_picker_for_a_guest_lists_only_tokens_naming_them(sqlite_engine, standin, access):
    seed(sqlite_engine, now=NOW, tokens=[
        token("open", NOW + timedelta(days=30), owners=[]), token("all", NOW + timedelta(days=30)),
        token("mine", NOW + timedelta(days=30), owners=["U0GUEST"])])
    open_to_all(sqlite_engine, ["all"])
    standin.guest("U0GUEST")
    standin.channel_members["C0ALERTS"] = ["U0GUEST"]
    rows = FormLookups(sqlite_engine).search_tokens("", 10_000)
    assert access.allowed_choices("U0GUEST", rows) == [("mine", "Token mine")]
    assert "conversations.members" not in slack_calls(standin)


def test_picker_when_the_persons_channels_cannot_be_read_lists_no_channel_token(sqlite_engine, standin, access):
    thousand_tokens(sqlite_engine)
    standin.fail_next("users.conversations", error="internal_error")
    mine = access.allowed_choices("U0ME", FormLookups(sqlite_engine).search_tokens("", 10_000))
    assert {int(tid[1:]) % 2 for tid, _ in mine} == {0}  # only the "*" tokens
    assert "conversations.members" not in slack_calls(standin)  # no call per channel instead


# --- over HTTP, through the bot -------------------------------------------------------------

def test_opening_the_form_twice_within_the_ttl_costs_no_more_calls(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), owners=[]),
                                  token("t2", NOW + timedelta(days=3), channel="C0OPS")])
    open_to_all(engine, ["t2"])
    slack.channel_members["C0ALERTS"] = ["U0ME"]
    bot.command("", user="U0ME")
    slack.wait_for("views.open")
    view = next(iter(slack.views.values()))

    def listed() -> set[str]:  # the picker's options load request, as Slack sends it
        _, _, answer = bot.post(form_payload_body(block_suggestion_payload(
            action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, value="", view=view, user_id="U0ME")))
        return {o["value"] for o in json.loads(answer)["options"]}
    assert listed() == {"t1", "t2"}
    cold = [c.method for c in slack.calls]
    assert listed() == {"t1", "t2"}
    bot.command("t1", user="U0ME", channel="C0ELSEWHERE")
    slack.wait_for("views.open", 2)
    assert [c.method for c in slack.calls] == [*cold, "views.open"]
    assert cold.count("users.info") == 1 and cold.count("conversations.members") == 1


def test_guest_in_the_channel_is_refused_with_a_reason(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), owners=[])])
    slack.channel_members["C0ALERTS"] = ["U0GUEST"]
    slack.guest("U0GUEST")
    bot.command("t1", user="U0GUEST")
    (reply,) = slack.wait_for("response_url:cmd")
    assert "guests can act only on tokens that name them" in reply.params["text"]
    settle()
    assert slack.calls_to("views.open") == []


def test_picking_a_token_the_person_may_not_renew_explains_in_the_form(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), owners=[]),
                                  token("t2", NOW + timedelta(days=3), owners=[], channel="C0OPS")])
    slack.channel_members.update({"C0ALERTS": ["U0ME"], "C0OPS": []})
    bot.command("", user="U0ME")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    assert bot.pick(view, {"value": "t2", "text": {"type": "plain_text", "text": "t2"}}, user="U0ME") == 200
    (update,) = slack.wait_for("views.update")
    text = str(update.params["view"]["blocks"])
    assert "only members of <#C0OPS> can renew it" in text and "submit" not in update.params["view"]


FILLED = {ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"}}


def snapshot(engine, token_id):
    with session_scope(engine) as s:
        tok = s.get(Token, token_id)
        return tok.version, tok.secret_encrypted, tok.expires_at


def test_submission_by_someone_outside_the_channel_changes_nothing(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), kind="generic", owners=[])])
    slack.channel_members["C0ALERTS"] = ["U0ME"]
    bot.command("t1", user="U0ME")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    before = snapshot(engine, "t1")
    # Another person, not in the channel, submits the same form (say, forwarded to them).
    status, answer = bot.submit(view, state_values(view, FILLED),
                                user="U0OUTSIDER")
    assert status == 200 and answer["response_action"] == "errors"
    assert answer["errors"][ids.TOKEN_BLOCK] == "This token names no owners: only members of its channel can renew it."
    assert snapshot(engine, "t1") == before
    # The member themselves may.
    status, answer = bot.submit(view, state_values(view, FILLED),
                                user="U0ME")
    assert status == 200 and answer is None
    assert snapshot(engine, "t1")[0] == before[0] + 1


def test_submission_uses_the_tokens_channel_as_it_is_now(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), kind="generic", owners=[])])
    slack.channel_members.update({"C0ALERTS": ["U0ME"], "C0MOVED": []})
    bot.command("t1", user="U0ME")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    with session_scope(engine) as s:
        s.get(Token, "t1").channel = "C0MOVED"  # an import moved the token to a channel U0ME is not in
    before = snapshot(engine, "t1")
    _, answer = bot.submit(view, state_values(view, FILLED), user="U0ME")
    assert "only members of its channel" in answer["errors"][ids.TOKEN_BLOCK]
    assert snapshot(engine, "t1") == before


def test_refusal_texts_say_why_and_escape_names():
    from renewbot.blocks.messages import not_allowed_field_text, not_allowed_text
    name = "<!channel> & co"
    texts = {why: not_allowed_text(name, ["U0OWNER", "S0OPS", "*"], why=why, channel="C0ALERTS")
             for why in ("not_owner", "not_in_channel", "guest", "other_team", "not_full_member", "unverified")}
    assert all(t.startswith("You can't renew *&lt;!channel&gt; &amp; co*") for t in texts.values())
    assert "only its owners can (<@U0OWNER>, <!subteam^S0OPS>)" in texts["not_owner"]  # "*" is not a mention
    assert "only members of <#C0ALERTS> can renew it" in texts["not_in_channel"]
    assert "guests can act only on tokens that name them" in texts["guest"]
    assert "another organisation" in texts["other_team"] and "Try again" in texts["unverified"]
    assert "the token's channel" in not_allowed_text("x", [], why="not_in_channel", channel="<#evil>")
    assert not_allowed_field_text("not_owner") == "Only this token's owners can renew it."
    assert "<" not in "".join(not_allowed_field_text(w) for w in texts)
