"""The scheduler's work, called as plain functions with a frozen clock against the Slack stand-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from freezegun import freeze_time
from sqlmodel import select

from jobs.plan import plan_notices
from jobs.scan import scan
from renewbot.runtime.deps import utc_now
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.importing import import_file
from storage.db import session_scope
from storage.models import Notice, Token
from tests.conftest import NOW
from tests.jobs.together import run_together
from tests.support.seed import account, seed, token


def notices(engine) -> list[Notice]:
    with session_scope(engine) as s:
        return list(s.exec(select(Notice).order_by(Notice.id)).all())


def top_level_posts(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if not c.failed and not c.params.get("thread_ts")]


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


def test_one_notice_for_the_nearest_threshold_when_first_seen_inside_several(engine, slack, client):
    seed(engine, accounts=[account("amazon-uk", settings_url="https://commerce.example/a/uk")],
         tokens=[token("mws", NOW + timedelta(days=2, hours=3), accounts=["amazon-uk"], app_id="532089569783")],
         now=NOW)
    report = scan(engine=engine, client=client, now=NOW)
    assert report.planned == 1 and len(report.delivery.sent) == 1
    (post,) = slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0ALERTS"
    assert "2026-11-28" in post.params["text"] and "Token mws" in post.params["text"]
    assert [n.stage for n in notices(engine)] == ["3d"]
    assert post.params["metadata"]["event_payload"]["notice_id"] == notices(engine)[0].id


def test_frozen_clock_with_freezegun_drives_the_stage(engine, slack, client):
    seed(engine, tokens=[token("t1", "2026-12-20")], now=NOW)
    with freeze_time("2026-11-21 00:00:01"):  # 29 days, 23:59:59 before expiry
        scan(engine=engine, client=client, now=utc_now())
    with freeze_time("2026-11-10 00:00:00"):  # earlier than the previous pass: not yet due
        assert scan(engine=engine, client=client, now=utc_now()).planned == 0
    assert [n.stage for n in notices(engine)] == ["30d"]


def test_scanning_twice_posts_once(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=6))], now=NOW)
    scan(engine=engine, client=client, now=NOW)
    scan(engine=engine, client=client, now=NOW + timedelta(minutes=15))
    scan(engine=engine, client=client, now=NOW + timedelta(hours=5))
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_three_concurrent_scans_post_once(engine, slack, client):
    seed(engine, tokens=[token(f"t{i}", NOW + timedelta(days=i % 5 + 1), channel=f"C0CH{i}") for i in range(12)],
         now=NOW)
    run_together(3, lambda: scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW))
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 12
    assert len({c.params["metadata"]["event_payload"]["token_id"] for c in posts}) == 12
    assert {n.state for n in notices(engine)} == {"sent"}


def test_later_threshold_replies_in_thread_and_edits_in_place(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=10))], now=NOW)
    scan(engine=engine, client=client, now=NOW)  # 14d
    root = slack.calls_to("chat.postMessage")[0]
    root_ts = slack.messages["C0ALERTS"][0]["ts"]
    scan(engine=engine, client=client, now=NOW + timedelta(days=4))  # 6 days left: 7d
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2 and posts[1].params["thread_ts"] == root_ts
    assert not posts[1].params.get("reply_broadcast")
    (update,) = slack.calls_to("chat.update")
    assert update.params["ts"] == root_ts and "6 days left" in update.params["text"]
    assert root.params.get("thread_ts") is None
    assert [n.stage for n in notices(engine)] == ["14d", "7d"]
    assert {n.root_ts for n in notices(engine)} == {root_ts}


def test_expired_stage_broadcasts_the_thread_reply(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(hours=20))], now=NOW)
    scan(engine=engine, client=client, now=NOW)  # 1d
    scan(engine=engine, client=client, now=NOW + timedelta(days=1))  # expired
    reply = slack.calls_to("chat.postMessage")[1]
    assert reply.params["reply_broadcast"] is True and reply.params["thread_ts"]
    assert "expired on 2026-11-27" in reply.params["text"]


@pytest.mark.parametrize("failure", [
    dict(status=503, times=3),  # more than the client's own retries
    dict(status=429, retry_after=1, times=2),
    "drop",
])
def test_a_failed_post_is_retried_on_the_next_pass_not_lost(engine, slack, client, failure):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3))], now=NOW)
    if failure == "drop":
        slack.drop_connection_next("chat.postMessage", times=3)
    else:
        slack.fail_next("chat.postMessage", **failure)
    first = scan(engine=engine, client=client, now=NOW)
    assert first.delivery.retrying and not first.delivery.sent
    (notice,) = notices(engine)
    assert notice.state == "pending" and notice.next_attempt_at > NOW
    assert slack.messages.get("C0ALERTS", []) == []
    later = NOW + timedelta(minutes=16)
    assert len(scan(engine=engine, client=client, now=later).delivery.sent) == 1
    assert len(slack.messages["C0ALERTS"]) == 1
    assert notices(engine)[0].state == "sent"


def test_429_waits_for_retry_after_before_the_next_attempt(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3))], now=NOW)
    slack.fail_next("chat.postMessage", status=429, retry_after=30, times=1)
    # slack_sdk's handler would sleep 30 s; the client used by the job here has no retries for this case
    bare = make_client("xoxb-test", slack.url)
    bare.retry_handlers = []
    scan(engine=engine, client=bare, now=NOW)
    (notice,) = notices(engine)
    assert NOW + timedelta(seconds=30) <= notice.next_attempt_at < NOW + timedelta(seconds=31)
    assert scan(engine=engine, client=bare, now=NOW + timedelta(seconds=29)).delivery.sent == []
    assert len(scan(engine=engine, client=bare, now=NOW + timedelta(seconds=31)).delivery.sent) == 1


def test_permanent_error_marks_failed_and_does_not_block_others(engine, slack, client):
    seed(engine, tokens=[token("a", NOW + timedelta(days=2), channel="C0GONE"),
                         token("b", NOW + timedelta(days=2), channel="C0OK")], now=NOW)
    slack.missing_channels.add("C0GONE")
    report = scan(engine=engine, client=client, now=NOW)
    assert len(report.delivery.failed) == 1 and len(report.delivery.sent) == 1
    by_token = {n.token_id: n for n in notices(engine)}
    assert by_token["a"].state == "failed" and by_token["a"].last_error == "channel_not_found"
    assert by_token["b"].state == "sent"
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))
    assert len(slack.calls_to("chat.postMessage")) == 2  # the failed one is not re-posted every pass


def test_plan_is_idempotent_under_the_unique_key(engine):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=1, hours=1))], now=NOW)
    assert plan_notices(engine=engine, now=NOW) == 1
    assert plan_notices(engine=engine, now=NOW) == 0
    assert len(notices(engine)) == 1


def test_nearer_stage_supersedes_an_unposted_one(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=8))], now=NOW)
    slack.fail_next("chat.postMessage", status=503, times=3)
    scan(engine=engine, client=client, now=NOW)  # 14d fails
    scan(engine=engine, client=client, now=NOW + timedelta(days=2))  # now 7d; the 14d one is dropped
    assert [(n.stage, n.state) for n in notices(engine)] == [("14d", "superseded"), ("7d", "sent")]
    assert len(slack.messages["C0ALERTS"]) == 1


def test_a_team_kinds_notice_carries_its_label_and_ladder(engine, slack, client, tmp_path):
    path = tmp_path / "kinds.yml"
    path.write_text(yaml.safe_dump({
        "kinds": [{"id": "stripe-restricted", "label": "Stripe restricted key", "notify_days": [10],
                   "steps": ["Roll it."]}],
        "tokens": [{"id": "stripe", "kind": "stripe-restricted", "name": "Shop key", "channel": "C0ALERTS",
                    "expires_at": (NOW + timedelta(days=12)).isoformat()}]}))
    with session_scope(engine) as s:
        import_file(path, session=s, now=NOW)
    assert scan(engine=engine, client=client, now=NOW).planned == 0  # its kind's ladder starts at 10 days
    report = scan(engine=engine, client=client, now=NOW + timedelta(days=3))
    assert len(report.delivery.sent) == 1
    (post,) = slack.calls_to("chat.postMessage")
    assert "(Stripe restricted key) expires" in post.params["blocks"][1]["text"]["text"]


def test_a_notice_planned_before_its_token_was_retired_is_dropped_not_posted(engine, slack, client):
    seed(engine, tokens=[token("old", NOW + timedelta(days=2))], now=NOW)
    assert plan_notices(engine=engine, now=NOW) == 1
    with session_scope(engine) as s:  # retired between planning and delivery, as a concurrent `retire` would
        s.get(Token, "old").retired = True
    report = scan(engine=engine, client=client, now=NOW)
    assert report.delivery.dropped and not slack.calls_to("chat.postMessage")


def test_a_forged_message_naming_the_notice_is_not_adopted(engine, slack, client):
    from renewbot.blocks.ids import NOTICE_EVENT_TYPE
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2))], now=NOW)
    slack.fail_next("chat.postMessage", status=503, times=3)
    scan(engine=engine, client=client, now=NOW)  # the first attempt fails: the next one checks the history
    (notice,) = notices(engine)
    # A workspace member (any token but the bot's) posts a message claiming to be that notice.
    forger = make_client("xoxp-someone-else", slack.url)
    forged = forger.chat_postMessage(channel="C0ALERTS", text="all good, nothing to renew", metadata={
        "event_type": NOTICE_EVENT_TYPE, "event_payload": {"notice_id": notice.id, "token_id": "t1", "stage": "3d"}})
    scan(engine=engine, client=client, now=NOW + timedelta(hours=1))
    (notice,) = notices(engine)
    assert notice.state == "sent" and notice.ts != forged["ts"]
    assert len(slack.messages["C0ALERTS"]) == 2  # the forgery and the real notice
