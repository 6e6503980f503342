"""The Home tab over real HTTP (signed requests, the Slack stand-in), clicks from it, its refresh after a
renewal, the notices' permalinks, and `/renew-token list`'s answer."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import timedelta

from sqlmodel import select

from handlers import home
from handlers.access import Access
from handlers.lookups import FormLookups
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import HomeView, Notice
from tests.conftest import NOW
from tests.support.bot_server import SIGNING_SECRET, settle
from tests.support.seed import account, seed, token
from tests.support.slack_requests import (
    app_home_opened_body,
    form_payload_body,
    home_action_payload,
    sign,
    state_values,
)

OWNER = "U0OWNER"


def post_event(bot, body: str) -> int:
    """An Events API callback as Slack sends it: JSON, signed."""
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
    request = urllib.request.Request(bot.events, data=body.encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def open_home(bot, slack, user: str, count: int = 1) -> dict:
    assert post_event(bot, app_home_opened_body(user)) == 200
    slack.wait_for("views.publish", count=count)
    return slack.home_views[user]


def row_values(view: dict) -> list[str]:
    return [b["accessory"]["value"] for b in view["blocks"] if b["type"] == "section" and "accessory" in b]


def click_from_home(bot, value: str, user: str) -> int:
    return bot.post(form_payload_body(home_action_payload(action_id=ids.RENEW_BUTTON, value=value,
                                                          user_id=user)))[0]


def seed_tokens(engine):
    seed(engine, now=NOW, accounts=[account("amazon-uk", name="Amazon UK", enabled=False)], tokens=[
        token("soon", NOW + timedelta(days=3), owners=[OWNER], accounts=["amazon-uk"], name="Amazon EU MWS"),
        token("later", NOW + timedelta(days=200), owners=[OWNER]),
        token("expired", NOW - timedelta(days=1), owners=[OWNER]),
        token("theirs", NOW + timedelta(days=1), owners=["U0SOMEONE"], channel="C0ELSEWHERE"),
    ])


def test_opening_home_publishes_that_persons_tokens_and_records_the_visit(engine, slack, bot):
    seed_tokens(engine)
    view = open_home(bot, slack, OWNER)
    assert view["type"] == "home"
    assert row_values(view) == ["expired", "soon", "later"]  # not "theirs": neither named nor in its channel
    (call,) = slack.calls_to("views.publish")
    assert call.params["user_id"] == OWNER
    assert "Amazon UK (off)" in str(view["blocks"]) and "3 days left" in str(view["blocks"])
    with session_scope(engine) as s:
        assert s.get(HomeView, OWNER).opened_at == NOW


def test_the_messages_tab_publishes_nothing(engine, slack, bot):
    seed_tokens(engine)
    assert post_event(bot, app_home_opened_body(OWNER, tab="messages")) == 200
    settle()
    assert slack.calls_to("views.publish") == []


def test_renew_from_home_opens_the_form(engine, slack, bot):
    seed_tokens(engine)
    assert click_from_home(bot, "soon", OWNER) == 200
    (call,) = slack.wait_for("views.open")
    assert call.params["view"]["callback_id"] == ids.RENEW_MODAL
    settle()
    assert slack.calls_to("chat.postEphemeral") == [] and slack.dms_to(OWNER) == []


def test_a_refused_click_from_home_is_answered_in_a_dm(engine, slack, bot):
    seed_tokens(engine)
    assert click_from_home(bot, "theirs", "U0OTHER") == 200
    slack.wait_for("chat.postMessage")
    (dm,) = slack.dms_to("U0OTHER")
    assert "You can't renew *Token theirs*" in dm["text"] and "only its owners" in dm["text"]
    click_from_home(bot, "gone", "U0OTHER")
    slack.wait_for("chat.postMessage", count=2)
    assert "No token called `gone`" in slack.dms_to("U0OTHER")[1]["text"]
    settle()
    assert slack.calls_to("chat.postEphemeral") == [] and slack.calls_to("views.open") == []


def test_after_a_renewal_recent_openers_see_the_new_expiry(engine, slack, bot, clock):
    seed_tokens(engine)
    slack.channel_members["C0ALERTS"] = [OWNER, "U0WATCHER"]
    open_home(bot, slack, OWNER)
    open_home(bot, slack, "U0WATCHER", count=2)  # in the tokens' channel: sees them too
    with session_scope(engine) as s:  # someone who looked two hours ago is not refreshed
        s.add(HomeView(user_id="U0LONGAGO", opened_at=NOW - timedelta(hours=2)))
    assert "2026-11-29" in str(slack.home_views["U0WATCHER"]["blocks"])

    click_from_home(bot, "soon", OWNER)
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": f"amzn.mws.{uuid.uuid4()}"}}),
                                user=OWNER)
    assert status == 200 and answer is None
    publishes = slack.wait_for("views.publish", count=4)
    assert sorted(c.params["user_id"] for c in publishes[2:]) == [OWNER, "U0WATCHER"]
    for user in (OWNER, "U0WATCHER"):
        blocks = str(slack.home_views[user]["blocks"])
        assert "2027-11-26" in blocks and "2026-11-29" not in blocks
        assert row_values(slack.home_views[user]) == ["expired", "later", "soon"]  # "soon" is fine now, and last
    settle()
    assert len(slack.calls_to("views.publish")) == 4


def test_each_notice_gets_its_permalink_once_and_home_links_it(engine, slack, bot, clock):
    seed_tokens(engine)
    client = make_client("xoxb-test", slack.url)
    scan(engine=engine, client=client, now=NOW)
    posted = sum(len(m) for m in slack.messages.values())
    assert posted == 3  # "soon" (3d), "expired" and "theirs" (1d); "later" is fine
    assert len(slack.calls_to("chat.getPermalink")) == posted
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))  # nothing new to post
    assert len(slack.calls_to("chat.getPermalink")) == posted
    with session_scope(engine) as s:
        links = {n.token_id: n.permalink for n in s.exec(select(Notice)).all()}
    soon_ts = next(m["ts"] for m in slack.messages["C0ALERTS"] if "Amazon EU MWS" in m["text"])
    assert links["soon"] == f"https://standin.slack.com/archives/C0ALERTS/p{soon_ts.replace('.', '')}"
    view = open_home(bot, slack, OWNER)
    assert f"<{links['soon']}|open notice>" in str(view["blocks"])
    assert len(slack.calls_to("chat.getPermalink")) == posted  # Home reads stored links: no call per row


def test_a_permalink_slack_will_not_give_never_fails_the_notice(engine, slack, caplog):
    seed(engine, now=NOW, tokens=[token("soon", NOW + timedelta(days=3), owners=[OWNER])])
    slack.fail_next("chat.getPermalink", error="internal_error")
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    assert notice.state == "sent" and notice.permalink is None
    assert any("could not store its permalink (internal_error)" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_an_adopted_notice_gets_its_permalink_too(engine, slack):
    from jobs.deliver import notice_seal
    from renewbot.blocks.ids import NOTICE_EVENT_TYPE
    seed(engine, now=NOW, tokens=[token("soon", NOW + timedelta(days=3), owners=[OWNER])])
    client = make_client("xoxb-test", slack.url)
    slack.fail_next("chat.postMessage", status=503, times=3)
    scan(engine=engine, client=client, now=NOW)  # the first attempt fails: the next one checks the history
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    # As if that attempt had reached Slack after all: the bot's sealed message is in the channel.
    posted = client.chat_postMessage(channel="C0ALERTS", text="the notice", metadata={
        "event_type": NOTICE_EVENT_TYPE,
        "event_payload": {"notice_id": notice.id, "token_id": "soon", "stage": "3d",
                          "seal": notice_seal(client, notice.id)}})
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    assert notice.state == "sent" and notice.ts == posted["ts"]  # adopted, not posted again
    assert notice.permalink == f"https://standin.slack.com/archives/C0ALERTS/p{posted['ts'].replace('.', '')}"
    assert len(slack.calls_to("chat.getPermalink")) == 1


# --- /renew-token list (the dispatcher's own HTTP test is in test_commands.py) ---------------------------

def test_list_answers_by_urgency_with_days_left(engine, slack, deps):
    seed_tokens(engine)
    told = []
    access = Access(make_client("xoxb-test", slack.url))
    home.answer_list(deps=deps, lookups=FormLookups(engine), access=access, user_id=OWNER,
                     tell=lambda text, blocks: told.append((text, blocks)))
    ((text, blocks),) = told
    assert text.startswith("3 tokens by urgency: Token expired (2026-11-25, expired 1 day ago); "
                           "Amazon EU MWS (2026-11-29, 3 days left); Token later (2027-06-14, 200 days left)")
    assert len(blocks) <= 50
    assert [b["accessory"]["value"] for b in blocks if "accessory" in b] == ["expired", "soon", "later"]


def test_list_many_tokens_says_how_many_more(engine, slack, deps):
    seed(engine, now=NOW, tokens=[token(f"t{i:03d}", NOW + timedelta(days=i), owners=[OWNER]) for i in range(80)])
    told = []
    home.answer_list(deps=deps, lookups=FormLookups(engine), access=Access(make_client("xoxb-test", slack.url)),
                     user_id=OWNER, tell=lambda text, blocks: told.append((text, blocks)))
    ((text, blocks),) = told
    assert len(blocks) == 50
    shown = sum(1 for b in blocks if "accessory" in b)
    assert text.startswith("80 tokens by urgency: Token t000 (2026-11-26, expired less than a day ago); "
                           "Token t001 (2026-11-27, 1 day left); ")
    assert f"{80 - shown} more tokens not shown" in blocks[-1]["elements"][0]["text"]


def test_list_failure_is_a_plain_apology(engine, slack, deps, monkeypatch):
    told = []
    monkeypatch.setattr(home, "overview_for", lambda **kw: (_ for _ in ()).throw(RuntimeError("db down")))
    home.answer_list(deps=deps, lookups=FormLookups(engine), access=Access(make_client("xoxb-test", slack.url)),
                     user_id=OWNER, tell=lambda text, blocks: told.append((text, blocks)))
    assert told == [("Something went wrong on renewbot's side and nothing was changed. Try again; if it persists, "
                     "check the bot's logs.", None)]
