"""The weekly digest: once per channel and ISO week, across replicas, late after downtime, skipped when empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update
from sqlmodel import select

from jobs.digest import deliver_digests, manual_week, plan_digests, plan_manual, run_digests
from renewbot.blocks.ids import DIGEST_EVENT_TYPE
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.slack_client import make_client
from storage import once
from storage.db import session_scope
from storage.models import Digest, Notice, Token
from tests.jobs.together import run_together
from tests.support.seed import seed, token

SETTINGS = AttentionSettings()  # Mondays 09:00 UTC
MONDAY_9 = datetime(2027, 1, 18, 9, 0, tzinfo=UTC)  # 2027-W03


def digests(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if not c.failed
            and (c.params.get("metadata") or {}).get("event_type") == DIGEST_EVENT_TYPE]


def rows(engine) -> list[Digest]:
    with session_scope(engine) as s:
        return list(s.exec(select(Digest).order_by(Digest.id)).all())


def seed_channel(engine):
    seed(engine, tokens=[token("old", MONDAY_9 - timedelta(days=3)), token("soon", MONDAY_9 + timedelta(days=10)),
                         token("later", MONDAY_9 + timedelta(days=60)),
                         token("quiet", MONDAY_9 + timedelta(days=90), channel="C0QUIET")], now=MONDAY_9)


def test_once_per_week_across_two_replicas_with_links_to_the_notices(engine, slack):
    seed_channel(engine)
    with session_scope(engine) as s:  # a notice the Home helper stored the permalink of
        s.add(Notice(token_id="soon", expires_at=MONDAY_9 + timedelta(days=10), stage="14d", state="sent", ts="1.1",
                     root_ts="1.1", channel="C0ALERTS", permalink="https://example.slack.com/archives/C0ALERTS/p11",
                     created_at=MONDAY_9, sent_at=MONDAY_9))
        once.claim(session=s, key="digest-planned:2027-W02", expires_at=MONDAY_9 + timedelta(days=30))  # done
    assert run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9 - timedelta(minutes=1),
                       settings=SETTINGS).sent == []
    for minutes in (0, 15, 60 * 24):
        at = MONDAY_9 + timedelta(minutes=minutes)
        run_together(2, lambda at=at: run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=at,
                                                  settings=SETTINGS))
    (post,) = digests(slack)
    assert post.params["channel"] == "C0ALERTS" and not post.params.get("thread_ts")
    body = "\n".join(b["text"]["text"] for b in post.params["blocks"] if b["type"] == "section")
    assert "Token old" in body and "<https://example.slack.com/archives/C0ALERTS/p11|Token soon>" in body
    assert "Token later" not in body
    assert body.index("Token old") < body.index("Token soon")
    # C0QUIET has nothing within 30 days: no row at all.
    assert {(r.channel, r.week, r.state) for r in rows(engine)} == {("C0ALERTS", "2027-W03", "sent")}
    # The next week: again once.
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9 + timedelta(days=7),
                settings=SETTINGS)
    assert len(digests(slack)) == 2


def test_after_the_week_is_planned_a_pass_reads_no_tokens(engine, slack):
    seed_channel(engine)
    client = make_client("xoxb-test", slack.url)
    run_digests(engine=engine, client=client, now=MONDAY_9, settings=SETTINGS)
    statements: list[str] = []
    listen = lambda conn, cursor, statement, *rest: statements.append(statement)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert plan_digests(engine=engine, now=MONDAY_9 + timedelta(hours=5), settings=SETTINGS) == []
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert statements and not any("FROM token" in st for st in statements)
    assert len(digests(slack)) == 1


def test_a_week_missed_while_down_is_posted_late(engine, slack):
    seed_channel(engine)
    thursday = MONDAY_9 + timedelta(days=3)
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=thursday, settings=SETTINGS)
    assert len(digests(slack)) == 1 and rows(engine)[0].week == "2027-W03"


def test_a_sunday_slot_missed_across_the_iso_week_boundary_is_posted_late_once(engine, slack):
    sunday = AttentionSettings(digest_day=6)  # Sundays 09:00 UTC
    sunday_9 = datetime(2027, 1, 24, 9, 0, tzinfo=UTC)  # 2027-W03; down from 08:00 to Monday 00:30
    seed(engine, tokens=[token("old", sunday_9 - timedelta(days=3))], now=sunday_9)
    client = make_client("xoxb-test", slack.url)
    with session_scope(engine) as s:
        once.claim(session=s, key="digest-planned:2027-W02", expires_at=sunday_9 + timedelta(days=30))
    run_digests(engine=engine, client=client, now=sunday_9 - timedelta(hours=1), settings=sunday)
    assert digests(slack) == []
    monday = sunday_9 + timedelta(hours=15, minutes=30)
    for hours in (0, 1, 24):
        run_digests(engine=engine, client=client, now=monday + timedelta(hours=hours), settings=sunday)
    (post,) = digests(slack)
    assert post.params["metadata"]["event_payload"]["week"] == "2027-W03"
    assert [(r.week, r.state) for r in rows(engine)] == [("2027-W03", "sent")]


def test_skipped_when_there_is_nothing_to_say_by_the_time_it_is_sent(engine, slack):
    seed(engine, tokens=[token("soon", MONDAY_9 + timedelta(days=5)), token("later", MONDAY_9 + timedelta(days=60),
                                                                           channel="C0QUIET")], now=MONDAY_9)
    assert [p.channel for p in plan_digests(engine=engine, now=MONDAY_9, settings=SETTINGS)] == ["C0ALERTS"]
    with session_scope(engine) as s:  # renewed between planning and sending
        s.execute(update(Token).values(expires_at=MONDAY_9 + timedelta(days=365)))
    report = deliver_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9)
    assert digests(slack) == [] and len(report.closed) == 1
    assert [r.state for r in rows(engine)] == ["skipped"]


def test_a_muted_token_is_left_out(engine, slack):
    seed(engine, tokens=[token("old", MONDAY_9 - timedelta(days=3))], now=MONDAY_9)
    with session_scope(engine) as s:
        s.execute(update(Token).values(muted_expiry=Token.expires_at))
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9, settings=SETTINGS)
    assert digests(slack) == []


def test_a_big_channel_lists_the_soonest_and_counts_the_rest(engine, slack):
    seed(engine, tokens=[token(f"t{i:03d}", MONDAY_9 - timedelta(days=1, minutes=i)) for i in range(30)]
         + [token(f"s{i:03d}", MONDAY_9 + timedelta(days=1, minutes=i)) for i in range(40)], now=MONDAY_9)
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9, settings=SETTINGS)
    (post,) = digests(slack)
    blocks = post.params["blocks"]
    assert len(blocks) == 50 and post.params["text"].startswith("Weekly digest 2027-W03: 30 expired, 40 expiring")
    listed = [b for b in blocks[1:] if b["type"] == "section" and b["text"]["text"].startswith("*Token ")]
    assert len(listed) == 46 and listed[0]["text"]["text"].startswith("*Token t029*")
    assert blocks[-1]["elements"][0]["text"] == "24 more: `/renew-token list`"


def test_a_manual_run_before_the_slot_does_not_use_up_the_week(engine, slack):
    friday = AttentionSettings(digest_day=4)  # Fridays 09:00 UTC
    seed_channel(engine)
    client = make_client("xoxb-test", slack.url)
    tuesday = MONDAY_9 + timedelta(days=1)  # 2027-W03, before Friday's slot
    assert manual_week(tuesday, friday) == "2027-W03m"
    (planned,) = plan_manual(engine=engine, now=tuesday, settings=friday, channel="C0ALERTS")
    assert planned.new and planned.week == "2027-W03m"
    assert len(deliver_digests(engine=engine, client=client, now=tuesday, channel="C0ALERTS").sent) == 1
    (again,) = plan_manual(engine=engine, now=tuesday, settings=friday, channel="C0ALERTS")
    assert not again.new and again.state == "sent"
    # Friday's scheduled digest still goes out, once; a manual run after it is the same week's.
    for days in (4, 5):
        run_digests(engine=engine, client=client, now=tuesday + timedelta(days=days), settings=friday)
    assert manual_week(tuesday + timedelta(days=4), friday) == "2027-W03"
    (late,) = plan_manual(engine=engine, now=tuesday + timedelta(days=4), settings=friday, channel="C0ALERTS")
    assert not late.new and late.state == "sent"
    assert [p.params["metadata"]["event_payload"]["week"] for p in digests(slack)] == ["2027-W03m", "2027-W03"]
