"""The Home tab over real HTTP (signed requests, the Slack stand-in), clicks from it, its refresh after a
renewal, the notices' permalinks, and `/renew-token list`'s answer."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import timedelta

from sqlmodel import select

from handlers import home
from handlers.access import Access
from jobs.permalinks import backfill_permalinks
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.blocks.home import LIST_ROWS
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import HomeView, Notice, NoticeState
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


def test_refreshes_run_on_one_daemon_thread_and_renewals_meanwhile_fold_into_one(engine, slack, deps):
    import threading
    seed_tokens(engine)
    with session_scope(engine) as s:
        s.add(HomeView(user_id=OWNER, opened_at=NOW))
    refresher = home.HomeRefresher(deps=deps, access=Access(make_client("xoxb-test", slack.url)))
    client = make_client("xoxb-test", slack.url)
    slack.hold_reply_next("views.publish", 0.5)
    refresher.after_renewal(client)
    slack.wait_for("views.publish")  # the first refresh is publishing (held): five renewals come meanwhile
    for _ in range(5):
        refresher.after_renewal(client)
    slack.wait_for("views.publish", count=2)
    settle()
    assert len(slack.calls_to("views.publish")) == 2  # the five were folded into one refresh
    (thread,) = [t for t in threading.enumerate() if t.name == "home-refresh" and t is refresher._thread]
    assert thread.daemon  # never holds up a shutdown


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
    slack.fail_next("chat.getPermalink", error="internal_error", times=2)  # when posted, and the pass's backfill
    client = make_client("xoxb-test", slack.url)
    scan(engine=engine, client=client, now=NOW)
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    assert notice.state == "sent" and notice.permalink is None
    assert any("could not store its permalink (internal_error)" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    scan(engine=engine, client=client, now=NOW + timedelta(minutes=15))  # the next pass asks again
    with session_scope(engine) as s:
        assert s.get(Notice, notice.id).permalink.startswith("https://standin.slack.com/archives/C0ALERTS/p")
    assert len(slack.calls_to("chat.getPermalink")) == 3


def unlinked_notices(engine, client, count: int, *, channel: str = "C0ALERTS") -> list[int]:
    """Sent notices with no stored link (as before migration 0006, or after a crash), each a real message."""
    # Fine for months: a scan plans and posts nothing about them.
    seed(engine, now=NOW, tokens=[token(f"t{i:02d}", NOW + timedelta(days=200), owners=[OWNER], channel=channel)
                                  for i in range(count)])
    ids_ = []
    with session_scope(engine) as s:
        for i in range(count):
            ts = client.chat_postMessage(channel=channel, text=f"notice {i}")["ts"]
            notice = Notice(token_id=f"t{i:02d}", expires_at=NOW + timedelta(days=200), stage="30d",
                            state=NoticeState.SENT, channel=channel, ts=ts, root_ts=ts, created_at=NOW)
            s.add(notice)
            s.flush()
            ids_.append(notice.id)
    return ids_


def links(engine) -> dict[int, str | None]:
    with session_scope(engine) as s:
        return {n.id: n.permalink for n in s.exec(select(Notice)).all()}


def test_open_notices_without_a_link_get_one_a_bounded_number_per_pass(engine, slack):
    client = make_client("xoxb-test", slack.url)
    unlinked_notices(engine, client, 60)
    with session_scope(engine) as s:  # a closed notice is never linked again: Home shows only open ones
        s.add(Notice(token_id="t00", expires_at=NOW, stage="expired", state=NoticeState.CLOSED, channel="C0ALERTS",
                     ts="1.000001", root_ts="1.000001", created_at=NOW))
    assert backfill_permalinks(engine=engine, client=client) == 50
    assert sum(1 for link in links(engine).values() if link) == 50
    assert len(slack.calls_to("chat.getPermalink")) == 50
    assert backfill_permalinks(engine=engine, client=client) == 10
    assert backfill_permalinks(engine=engine, client=client) == 0  # nothing left: no call at all
    assert len(slack.calls_to("chat.getPermalink")) == 60
    with session_scope(engine) as s:
        assert {(n.state, n.permalink is None) for n in s.exec(select(Notice)).all()} == {
            (NoticeState.SENT, False), (NoticeState.CLOSED, True)}


def test_the_scan_backfills_links_and_one_slack_refuses_holds_back_no_other(engine, slack):
    client = make_client("xoxb-test", slack.url)
    first, *rest = unlinked_notices(engine, client, 3)
    with session_scope(engine) as s:
        s.get(Notice, first).ts = "9.000009"  # a deleted message: Slack answers message_not_found every time
    scan(engine=engine, client=client, now=NOW)
    assert slack.calls_to("chat.postMessage")[3:] == []  # the scan posted nothing: it only linked
    stored = links(engine)
    assert stored[first] is None and all(stored[i] for i in rest)
    backfill_permalinks(engine=engine, client=client)
    assert links(engine)[first] is None  # still asked (bounded), never fails anything


def test_a_rate_limit_stops_the_backfill_until_the_next_pass(engine, slack):
    client = make_client("xoxb-test", slack.url)
    unlinked_notices(engine, client, 5)
    slack.fail_next("chat.getPermalink", status=429, retry_after=30)
    assert backfill_permalinks(engine=engine, client=client) == 0
    assert len(slack.calls_to("chat.getPermalink")) == 1  # stopped at the first 429
    assert backfill_permalinks(engine=engine, client=client) == 5


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
    home.answer_list(deps=deps, access=access, user_id=OWNER, tell=lambda text, blocks: told.append((text, blocks)))
    ((text, blocks),) = told
    assert text.startswith("3 tokens by urgency: Token expired (2026-11-25, expired 1 day ago); "
                           "Amazon EU MWS (2026-11-29, 3 days left); Token later (2027-06-14, 200 days left)")
    assert len(blocks) <= 50
    assert [b["accessory"]["value"] for b in blocks if "accessory" in b] == ["expired", "soon", "later"]


def list_page(engine, slack, deps, **asked) -> tuple[str, list[dict]]:
    told = []
    home.answer_list(deps=deps, access=Access(make_client("xoxb-test", slack.url)), user_id=OWNER,
                     tell=lambda text, blocks: told.append((text, blocks)), **asked)
    ((text, blocks),) = told
    return text, blocks


def test_list_many_tokens_page_by_page(engine, slack, deps):
    seed(engine, now=NOW, tokens=[token(f"t{i:03d}", NOW + timedelta(days=i), owners=[OWNER]) for i in range(90)])
    text, blocks = list_page(engine, slack, deps)
    assert len(blocks) <= 50 and row_values({"blocks": blocks}) == [f"t{i:03d}" for i in range(LIST_ROWS)]
    assert text.startswith("90 tokens by urgency: Token t000 (2026-11-26, expired less than a day ago); "
                           "Token t001 (2026-11-27, 1 day left); ")
    assert blocks[-1]["elements"][0]["text"] == "Tokens 1–40 of 90. Next: `/renew-token list 2`"
    text, blocks = list_page(engine, slack, deps, page=3)
    assert row_values({"blocks": blocks}) == [f"t{i:03d}" for i in range(80, 90)]
    assert text.startswith("90 tokens by urgency from #81: Token t080")
    assert blocks[-1]["elements"][0]["text"] == "Tokens 81–90 of 90: the last page."
    text, blocks = list_page(engine, slack, deps, page=4)
    assert row_values({"blocks": blocks}) == []
    assert text == "There is no page 4 of your tokens: there are 3 pages (`/renew-token list 3` is the last)."
    # One group: 30 tokens are due (a 30-day ladder: t001..t030), t000 expired, the rest fine.
    text, blocks = list_page(engine, slack, deps, group="due")
    assert row_values({"blocks": blocks}) == [f"t{i:03d}" for i in range(1, 31)]
    assert text.startswith("30 due tokens by urgency: Token t001")
    assert blocks[0]["text"]["text"] == "Your due tokens, most urgent first"


def test_list_failure_is_a_plain_apology(engine, slack, deps, monkeypatch):
    told = []
    monkeypatch.setattr(home, "overview_for", lambda **kw: (_ for _ in ()).throw(RuntimeError("db down")))
    home.answer_list(deps=deps, access=Access(make_client("xoxb-test", slack.url)), user_id=OWNER,
                     tell=lambda text, blocks: told.append((text, blocks)))
    assert told == [("Something went wrong on renewbot's side and nothing was changed. Try again; if it persists, "
                     "check the bot's logs.", None)]
