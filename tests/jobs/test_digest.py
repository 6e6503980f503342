"""The weekly digest: once per channel and ISO week, across replicas, late after downtime, skipped when empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import select

from jobs.digest import deliver_digests, plan_digests, run_digests
from renewbot.blocks.ids import DIGEST_EVENT_TYPE
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.slack_client import make_client
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
    assert {(r.channel, r.week, r.state) for r in rows(engine)} == {("C0ALERTS", "2027-W03", "sent"),
                                                                   ("C0QUIET", "2027-W03", "skipped")}
    # The next week: again once.
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9 + timedelta(days=7),
                settings=SETTINGS)
    assert len(digests(slack)) == 2


def test_a_week_missed_while_down_is_posted_late(engine, slack):
    seed_channel(engine)
    thursday = MONDAY_9 + timedelta(days=3)
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=thursday, settings=SETTINGS)
    assert len(digests(slack)) == 1 and rows(engine)[0].week == "2027-W03"


def test_skipped_when_there_is_nothing_to_say(engine, slack):
    seed(engine, tokens=[token("later", MONDAY_9 + timedelta(days=60))], now=MONDAY_9)
    report = run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9, settings=SETTINGS)
    assert digests(slack) == [] and len(report.closed) == 1
    assert [r.state for r in rows(engine)] == ["skipped"]


def test_a_muted_token_is_left_out(engine, slack):
    seed(engine, tokens=[token("old", MONDAY_9 - timedelta(days=3))], now=MONDAY_9)
    with session_scope(engine) as s:
        s.execute(update(Token).values(muted_expiry=Token.expires_at))
    run_digests(engine=engine, client=make_client("xoxb-test", slack.url), now=MONDAY_9, settings=SETTINGS)
    assert digests(slack) == []


def test_forced_digest_for_one_channel_then_already_done(engine, slack):
    seed_channel(engine)
    client = make_client("xoxb-test", slack.url)
    tuesday = MONDAY_9 - timedelta(days=6)  # before this week's slot: forced by `renewbot digest`
    (planned,) = plan_digests(engine=engine, now=tuesday, settings=SETTINGS, channel="C0ALERTS", force=True)
    assert planned.new and planned.week == "2027-W02"
    assert len(deliver_digests(engine=engine, client=client, now=tuesday, channel="C0ALERTS").sent) == 1
    (again,) = plan_digests(engine=engine, now=tuesday, settings=SETTINGS, channel="C0ALERTS", force=True)
    assert not again.new and again.state == "sent"
    assert len(digests(slack)) == 1
