"""Escalations and reminders through the scan, with frozen clocks, against the Slack stand-in."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import event, update
from sqlmodel import select

from jobs.followups import deliver_followups, plan_followups
from jobs.outbox_send import LEASE, seal
from jobs.scan import scan
from renewbot.blocks.followups import followup_metadata
from renewbot.blocks.ids import FOLLOWUP_EVENT_TYPE
from renewbot.errors import ImportFileError
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.importing import import_file
from storage import outbox
from storage.db import make_engine, session_scope
from storage.models import Followup, Notice, Token
from tests.conftest import NOW
from tests.jobs.together import run_together
from tests.support.seed import seed, token
from tests.test_bot_cli import run as cli

SETTINGS = AttentionSettings()  # 4 hours, reminders at 09:00 UTC


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


def followup_posts(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if not c.failed
            and (c.params.get("metadata") or {}).get("event_type") == FOLLOWUP_EVENT_TYPE]


def kinds(slack) -> list[tuple[str, str]]:
    return [(p.params["metadata"]["event_payload"]["kind"], p.params["metadata"]["event_payload"]["key"])
            for p in followup_posts(slack)]


def run(engine, client, at):
    return scan(engine=engine, client=client, now=at, attention=SETTINGS)


def set_notice(engine, **values):
    with session_scope(engine) as s:
        s.execute(update(Notice).values(**values))


def test_escalation_once_per_threshold_after_the_delay_mentioning_the_owners(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER", "S0GROUP"])], now=NOW)
    run(engine, client, NOW)  # the 3d notice
    run(engine, client, NOW + timedelta(hours=3, minutes=59))
    assert followup_posts(slack) == []
    for minutes in (0, 15, 60):
        run(engine, client, NOW + timedelta(hours=4, minutes=minutes))
    (post,) = followup_posts(slack)
    root = slack.messages["C0ALERTS"][0]["ts"]
    assert post.params["thread_ts"] == root
    assert post.params["text"].startswith("<@U0OWNER> <!subteam^S0GROUP> Token t1 expires on")
    assert kinds(slack) == [("escalation", "3d")]


def test_no_escalation_when_acknowledged(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])], now=NOW)
    run(engine, client, NOW)
    set_notice(engine, acked_at=NOW + timedelta(hours=1), acked_by="U0OWNER")
    run(engine, client, NOW + timedelta(hours=5))
    assert followup_posts(slack) == []


def test_acknowledged_after_planning_closes_it_unsent(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])], now=NOW)
    run(engine, client, NOW)
    assert plan_followups(engine=engine, now=NOW + timedelta(hours=5), settings=SETTINGS).planned == 1
    set_notice(engine, acked_at=NOW + timedelta(hours=5), acked_by="U0OWNER")
    report = deliver_followups(engine=engine, client=client, now=NOW + timedelta(hours=5), settings=SETTINGS)
    assert report.closed and not report.sent and followup_posts(slack) == []


def test_snooze_delays_the_escalation(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])], now=NOW)
    run(engine, client, NOW)
    set_notice(engine, snoozed_until=NOW + timedelta(hours=20), snoozed_by="U0OWNER")
    run(engine, client, NOW + timedelta(hours=5))
    run(engine, client, NOW + timedelta(hours=19))
    assert followup_posts(slack) == []
    run(engine, client, NOW + timedelta(hours=20))
    assert kinds(slack) == [("escalation", "3d")]


def test_nothing_for_a_muted_token(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["U0OWNER"])], now=NOW)
    run(engine, client, NOW)
    with session_scope(engine) as s:
        s.execute(update(Token).values(muted_expiry=Token.expires_at, muted_by="U0OWNER"))
    for hours in (5, 48, 72, 24 * 10):
        run(engine, client, NOW + timedelta(hours=hours))
    assert followup_posts(slack) == []


def _expire(engine, client, expires, **token_kw):
    seed(engine, tokens=[token("t1", expires, **token_kw)], now=NOW)
    run(engine, client, expires - timedelta(hours=20))  # 1d notice
    set_notice(engine, acked_at=expires - timedelta(hours=19), acked_by="U0OWNER")
    run(engine, client, expires)  # the expired notice, then the escalation at expiry


@pytest.mark.parametrize(("extra", "mention"), [
    (dict(escalate_to="S0ONCALL", owners=["U0OWNER"]), "<!subteam^S0ONCALL>"),
    (dict(escalate_to="channel", owners=["U0OWNER"]), "<!channel>"),
    (dict(owners=["U0OWNER", "S0GROUP"]), "<@U0OWNER> <!subteam^S0GROUP>"),
    (dict(owners=[]), "<!here>"),
    (dict(owners=["*"]), "<!here>"),  # everyone: no mention of its own
    (dict(owners=["*", "U0OWNER"]), "<@U0OWNER>"),
])
def test_escalation_at_expiry_mentions_escalate_to_else_owners_else_here(engine, slack, client, extra, mention):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, **extra)
    (post,) = followup_posts(slack)
    assert kinds(slack) == [("expiry", "expired")]
    assert post.params["text"].startswith(f"{mention} Token t1 expired on")
    assert post.params["thread_ts"] == slack.messages["C0ALERTS"][0]["ts"]
    assert post.params["reply_broadcast"] in (True, "true", "1")  # its <!channel> reaches the channel
    assert "<@*>" not in post.params["text"]


def test_reminders_once_a_local_day_for_fourteen_days_then_weekly_across_two_replicas(engine, slack):
    expires = NOW + timedelta(days=1)  # 2026-11-27 12:00 UTC
    _expire(engine, make_client("xoxb-test", slack.url), expires, owners=["U0OWNER"])
    at = expires
    while at < expires + timedelta(days=30):
        at += timedelta(hours=6)
        run_together(2, lambda at=at: run(engine, make_client("xoxb-test", slack.url), at))
    reminders = [key for kind, key in kinds(slack) if kind == "reminder"]
    daily = [f"2026-11-{d}" for d in range(28, 31)] + [f"2026-12-{d:02d}" for d in range(1, 12)]
    assert reminders == [*daily, "2026-12-18", "2026-12-25"]
    with session_scope(engine) as s:
        rows = s.exec(select(Followup).where(Followup.kind == "reminder")).all()
    assert len(rows) == len(reminders) and {r.state for r in rows} == {"sent"}


def test_no_reminder_while_muted_or_after_renewal(engine, slack, client):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, owners=["U0OWNER"])
    day = expires.replace(hour=9) + timedelta(days=1)  # 2026-11-28 09:00
    run(engine, client, day)
    with session_scope(engine) as s:
        s.execute(update(Token).values(muted_expiry=Token.expires_at, muted_by="U0OWNER"))
    run(engine, client, day + timedelta(days=1))  # muted: nothing
    with session_scope(engine) as s:
        s.execute(update(Token).values(muted_expiry=None, muted_by=None))
    run(engine, client, day + timedelta(days=2))
    assert [k for kind, k in kinds(slack) if kind == "reminder"] == ["2026-11-28", "2026-11-30"]
    seed(engine, tokens=[token("t1", expires + timedelta(days=90), owners=["U0OWNER"])], now=NOW)  # renewed
    for days in (3, 4, 10):
        run(engine, client, day + timedelta(days=days))
    assert [k for kind, k in kinds(slack) if kind == "reminder"] == ["2026-11-28", "2026-11-30"]


def test_a_planned_reminder_is_closed_when_the_token_is_renewed_before_it_is_sent(engine, slack, client):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, owners=["U0OWNER"])
    day = expires.replace(hour=9) + timedelta(days=1)
    assert plan_followups(engine=engine, now=day, settings=SETTINGS).planned == 1
    seed(engine, tokens=[token("t1", expires + timedelta(days=90), owners=["U0OWNER"])], now=NOW)
    report = deliver_followups(engine=engine, client=client, now=day, settings=SETTINGS)
    assert len(report.closed) == 1 and not report.sent


def reminder_messages(slack) -> list[dict]:
    return [m for m in slack.messages["C0ALERTS"] if (m.get("metadata") or {}).get("event_type") == FOLLOWUP_EVENT_TYPE
            and m["metadata"]["event_payload"]["kind"] == "reminder"]


def test_a_crash_after_the_post_adopts_it_instead_of_posting_twice(engine, slack, client):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, owners=["U0OWNER"])
    day = expires.replace(hour=9) + timedelta(days=1)
    plan_followups(engine=engine, now=day, settings=SETTINGS)
    # A process claims the reminder and its post reaches Slack, then it dies before recording the answer.
    with session_scope(engine) as s:
        (row_id,) = outbox.claim_due(Followup, session=s, now=day, lease=LEASE)
        row = s.get(Followup, row_id)
    sealed = seal(client, "followup", row_id)
    client.chat_postMessage(channel=row.channel, thread_ts=row.thread_ts, text="reminder",
                            metadata=followup_metadata(row_id, "t1", row.kind, row.key, sealed))
    assert len(reminder_messages(slack)) == 1
    # Its lease runs out; the next pass looks in the thread first and adopts the reply.
    report = deliver_followups(engine=engine, client=client, now=day + LEASE + timedelta(seconds=1), settings=SETTINGS)
    assert report.sent == [row_id]
    assert len(reminder_messages(slack)) == 1
    replies = slack.calls_to("conversations.replies")
    assert replies and replies[-1].params["ts"] == row.thread_ts
    with session_scope(engine) as s:
        assert s.get(Followup, row_id).ts == reminder_messages(slack)[0]["ts"]


def test_a_reply_without_our_seal_is_not_adopted(engine, slack, client):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, owners=["U0OWNER"])
    day = expires.replace(hour=9) + timedelta(days=1)
    plan_followups(engine=engine, now=day, settings=SETTINGS)
    with session_scope(engine) as s:
        (row_id,) = outbox.claim_due(Followup, session=s, now=day, lease=LEASE)
        row = s.get(Followup, row_id)
    client.chat_postMessage(channel=row.channel, thread_ts=row.thread_ts, text="forged",
                            metadata=followup_metadata(row_id, "t1", row.kind, row.key, "0" * 32))
    deliver_followups(engine=engine, client=client, now=day + LEASE + timedelta(seconds=1), settings=SETTINGS)
    assert len(reminder_messages(slack)) == 2  # ours was posted beside the forged one


def test_the_escalation_never_mentions_the_wildcard_owner(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=2), owners=["*"])], now=NOW)
    run(engine, client, NOW)
    run(engine, client, NOW + timedelta(hours=5))
    (post,) = followup_posts(slack)
    assert post.params["text"].startswith("<!here> Token t1 expires on") and "<@*>" not in post.params["text"]
    assert post.params.get("reply_broadcast") in (None, False, "false", "0")  # an escalation stays in the thread


def _two_expired(engine, client):
    """Two tokens whose expired notices are posted, their escalations at expiry planned, not sent."""
    expires = NOW + timedelta(days=1)
    seed(engine, tokens=[token("t1", expires, owners=["U0OWNER"]), token("t2", expires, owners=["U0OWNER"])],
         now=NOW)
    scan(engine=engine, client=client, now=expires)  # notices only
    assert plan_followups(engine=engine, now=expires, settings=SETTINGS).planned == 2
    return expires


def followup_rows(engine) -> list[Followup]:
    with session_scope(engine) as s:
        return list(s.exec(select(Followup).order_by(Followup.id)).all())


def test_a_long_retry_after_gives_the_rows_back_instead_of_sleeping_on_their_leases(engine, slack, client):
    at = _two_expired(engine, client)
    slack.throttled_channels["C0ALERTS"] = 120
    report = deliver_followups(engine=engine, client=client, now=at, settings=SETTINGS)
    assert followup_posts(slack) == [] and not report.sent and len(report.retrying) == 2
    tried = [c for c in slack.calls_to("chat.postMessage") if c.failed]
    assert len(tried) == 1 and tried[0].error == "ratelimited"  # the second was never tried
    first, second = followup_rows(engine)
    assert (first.state, first.attempts, first.last_error) == ("pending", 1, "ratelimited")
    assert (second.state, second.attempts) == ("pending", 0)  # given back untried
    for row in (first, second):
        assert row.next_attempt_at >= at + timedelta(seconds=119)
    del slack.throttled_channels["C0ALERTS"]
    deliver_followups(engine=engine, client=client, now=at + timedelta(minutes=3), settings=SETTINGS)
    assert len(followup_posts(slack)) == 2


def test_a_5xx_is_retried_by_a_later_pass_which_looks_first(engine, slack, client):
    at = _expired_one(engine, client)
    slack.fail_next("chat.postMessage", status=500)
    deliver_followups(engine=engine, client=client, now=at, settings=SETTINGS)
    assert followup_posts(slack) == []  # the HTTP client did not re-send it on its own
    (row,) = followup_rows(engine)
    assert (row.state, row.last_error) == ("pending", "http 500")
    deliver_followups(engine=engine, client=client, now=at + timedelta(minutes=20), settings=SETTINGS)
    assert len(followup_posts(slack)) == 1 and slack.calls_to("conversations.replies")
    assert followup_rows(engine)[0].state == "sent"


def _expired_one(engine, client):
    expires = NOW + timedelta(days=1)
    seed(engine, tokens=[token("t1", expires, owners=["U0OWNER"])], now=NOW)
    scan(engine=engine, client=client, now=expires)  # the expired notice only
    assert plan_followups(engine=engine, now=expires, settings=SETTINGS).planned == 1
    return expires


def test_a_503_after_slack_accepted_the_post_ends_in_exactly_one_reply(engine, slack, client, monkeypatch):
    at = _expired_one(engine, client)
    answer, left = slack._answer, [1]

    def accepted_then_503(method, params, headers):
        reply = answer(method, params, headers)
        if method == "chat.postMessage" and (params.get("metadata") or {}).get("event_type") == FOLLOWUP_EVENT_TYPE \
                and left[0]:
            left[0] -= 1
            return 503, "upstream error", {}
        return reply

    monkeypatch.setattr(slack, "_answer", accepted_then_503)
    deliver_followups(engine=engine, client=client, now=at, settings=SETTINGS)
    assert len(followup_posts(slack)) == 0 and len(expiry_replies(slack)) == 1  # in Slack; we were told 503
    (row,) = followup_rows(engine)
    assert row.state == "pending"
    deliver_followups(engine=engine, client=client, now=at + timedelta(minutes=20), settings=SETTINGS)
    assert len(expiry_replies(slack)) == 1
    (row,) = followup_rows(engine)
    assert row.state == "sent" and row.ts == expiry_replies(slack)[0]["ts"]


def expiry_replies(slack) -> list[dict]:
    return [m for m in slack.messages["C0ALERTS"] if (m.get("metadata") or {}).get("event_type") == FOLLOWUP_EVENT_TYPE]


def test_a_lease_that_runs_out_while_the_post_is_in_flight_gives_one_reply(engine, slack, client):
    at = _expired_one(engine, client)
    slack.hold_reply_next("chat.postMessage", 1.5)
    first = threading.Thread(target=deliver_followups, kwargs=dict(engine=engine, client=client, now=at,
                                                                    settings=SETTINGS))
    first.start()
    slack.wait_for("chat.postMessage", count=2)  # the notice, then the reply (applied, its answer held)
    # Another replica, its clock past the first's lease: it takes the row over, looks first, adopts the reply.
    later = deliver_followups(engine=engine, client=make_client("xoxb-test", slack.url),
                              now=at + LEASE + timedelta(seconds=5), settings=SETTINGS)
    first.join(timeout=10)
    assert len(later.sent) == 1 and len(expiry_replies(slack)) == 1
    (row,) = followup_rows(engine)
    # The first claimer's late word was refused: the row is the taker's, recorded once.
    assert (row.state, row.attempts, row.ts) == ("sent", 2, expiry_replies(slack)[0]["ts"])


def test_crash_recovery_finds_its_reply_past_the_first_200_in_a_long_thread(engine, slack, client, monkeypatch):
    at = _expired_one(engine, client)
    replies = slack._api_conversations_replies

    def paged(p):  # as Slack does: oldest first, `limit` a page, a cursor to the next
        full = replies(p)
        return full if not full.get("ok") else slack._page(full["messages"], p, "messages")

    monkeypatch.setattr(slack, "_api_conversations_replies", paged)
    with session_scope(engine) as s:
        (row_id,) = outbox.claim_due(Followup, session=s, now=at, lease=LEASE)
        row = s.get(Followup, row_id)
    for i in range(250):  # people talking in the notice's thread
        client.chat_postMessage(channel=row.channel, thread_ts=row.thread_ts, text=f"chatter {i}")
    sealed = seal(client, "followup", row_id)
    client.chat_postMessage(channel=row.channel, thread_ts=row.thread_ts, text="reply",
                            metadata=followup_metadata(row_id, "t1", row.kind, row.key, sealed))
    report = deliver_followups(engine=engine, client=client, now=at + LEASE + timedelta(seconds=1), settings=SETTINGS)
    assert report.sent == [row_id] and len(expiry_replies(slack)) == 1
    assert len(slack.calls_to("conversations.replies")) >= 2


def test_planning_reads_tokens_in_pages_with_bounded_parameter_lists(engine, slack, client):
    expires = NOW + timedelta(days=1)
    seed(engine, tokens=[token(f"t{i}", expires + timedelta(minutes=i), owners=["U0OWNER"]) for i in range(7)],
         now=NOW)
    scan(engine=engine, client=client, now=expires + timedelta(minutes=10))  # the expired notices only
    sizes: list[int] = []
    listen = lambda conn, cursor, statement, parameters, *rest: sizes.append(len(parameters or ()))
    event.listen(engine, "before_cursor_execute", listen)
    try:
        report = plan_followups(engine=engine, now=expires + timedelta(minutes=10), settings=SETTINGS, chunk=2)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert report.planned == 7
    assert max(sizes) <= 2 * 10  # a page's ids, or its 2 rows of 10 columns; all 7 tokens' rows would be 70
    assert plan_followups(engine=engine, now=expires + timedelta(minutes=20), settings=SETTINGS, chunk=2).planned == 0
    assert {(r.token_id, r.kind) for r in followup_rows(engine)} == {(f"t{i}", "expiry") for i in range(7)}


def test_planning_skips_the_keys_already_planned_even_after_years_of_weekly_reminders(engine, slack, client):
    expires = NOW + timedelta(days=1)
    _expire(engine, client, expires, owners=["U0OWNER"])
    day = expires.replace(hour=9) + timedelta(days=1)
    assert plan_followups(engine=engine, now=day, settings=SETTINGS).planned == 1
    assert plan_followups(engine=engine, now=day + timedelta(hours=3), settings=SETTINGS).planned == 0
    # Just after local midnight, yesterday's slot is still the latest: still planned once.
    assert plan_followups(engine=engine, now=day + timedelta(hours=15, minutes=30), settings=SETTINGS).planned == 0


def test_scan_claims_follow_ups_with_a_lease_from_the_time_of_the_claim(engine, slack, client, monkeypatch):
    expires = NOW + timedelta(days=1)
    seed(engine, tokens=[token(f"t{i}", expires, owners=["U0OWNER"]) for i in range(3)], now=NOW)
    claims: list[tuple[str, object]] = []
    claim_due = outbox.claim_due

    def spy(model, **kw):
        claims.append((model.__name__, kw["now"]))
        return claim_due(model, **kw)

    monkeypatch.setattr(outbox, "claim_due", spy)
    scan(engine=engine, client=client, now=expires, attention=SETTINGS)  # 3 notices paced ~1 s apart, then 3 replies
    assert len(followup_posts(slack)) == 3
    followup_claims = [at for name, at in claims if name == "Followup"]
    # Pacing the notices took about two seconds: the first follow-up claim is that much after the scan's `now`.
    assert followup_claims[0] >= expires + timedelta(seconds=2)


def test_an_expired_notice_never_posted_gets_no_reminder_and_is_counted(engine, slack, client):
    expires = NOW + timedelta(days=1)
    seed(engine, tokens=[token("t1", expires, owners=["U0OWNER"], channel="C0GONE")], now=NOW)
    slack.fail_next("chat.postMessage", status=200, error="channel_not_found", times=2)
    run(engine, client, expires)
    report = plan_followups(engine=engine, now=expires + timedelta(days=2), settings=SETTINGS)
    assert report.planned == 0 and report.unposted == 1


# --- `scan --now` and `digest` as a person runs them (real processes) ----------------------------------------


@pytest.fixture
def cli_env(db_url):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**base, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}


def _cli_seed(db_url, env, tmp_path):
    assert cli(["migrate"], env, tmp_path).returncode == 0
    engine = make_engine(db_url)
    seed(engine, tokens=[token("t1", datetime(2027, 1, 10, 12, tzinfo=UTC), owners=["U0OWNER"],
                               escalate_to="S0ONCALL")], now=datetime(2027, 1, 1, tzinfo=UTC))
    engine.dispose()


def test_scan_now_posts_only_where_allowed_and_dry_run_shows_reminders(cli_env, db_url, tmp_path, slack):
    _cli_seed(db_url, cli_env, tmp_path)
    env = {**cli_env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url}
    refused = cli(["scan", "--now", "2027-01-10T12:00Z"], env, tmp_path)
    assert refused.returncode == 2 and "--now only goes with --dry-run" in refused.stderr
    assert slack.calls_to("chat.postMessage") == []
    bad = cli(["scan", "--dry-run", "--now", "next tuesday"], env, tmp_path)
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr and "Traceback" not in bad.stderr
    naive = cli(["scan", "--dry-run", "--now", "2027-01-10T12:00"], env, tmp_path)
    assert naive.returncode == 2 and "no time zone" in naive.stderr

    # At the expiry (allowed for tests): the expired notice, then the escalation at expiry in its thread.
    posted = cli(["scan", "--now", "2027-01-10T12:00Z"], {**env, "RENEWBOT_ALLOW_NOW": "1"}, tmp_path)
    assert posted.returncode == 0, posted.stderr
    assert kinds(slack) == [("expiry", "expired")]
    assert followup_posts(slack)[0].params["text"].startswith("<!subteam^S0ONCALL> Token t1 expired")

    later = cli(["scan", "--dry-run", "--now", "2027-01-15T09:00+00:00"], env, tmp_path)
    assert later.returncode == 0, later.stderr
    root = slack.messages["C0ALERTS"][0]["ts"]
    assert f"[dry-run] would reply in C0ALERTS (thread {root}), reminder 2027-01-15:" in later.stdout
    assert "Reminder: Token t1 expired 4 days ago" in later.stdout
    assert "[dry-run] would post the weekly digest 2027-W02 to C0ALERTS:" in later.stdout
    assert len(followup_posts(slack)) == 1  # a dry run posts nothing


def test_scan_dry_run_now_shows_an_escalation_before_expiry(cli_env, db_url, tmp_path, slack):
    _cli_seed(db_url, cli_env, tmp_path)
    env = {**cli_env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url, "RENEWBOT_ALLOW_NOW": "1"}
    assert cli(["scan", "--now", "2027-01-08T12:00Z"], env, tmp_path).returncode == 0  # the 3d notice
    out = cli(["scan", "--dry-run", "--now", "2027-01-08T16:30Z"], env, tmp_path).stdout
    assert "escalation 3d:" in out and "<@U0OWNER> Token t1 expires on 2027-01-10" in out


def test_digest_command_posts_once_a_week(cli_env, db_url, tmp_path, slack):
    # The command runs on the real clock: the token is due relative to it, so there is something to post.
    assert cli(["migrate"], cli_env, tmp_path).returncode == 0
    engine = make_engine(db_url)
    real_now = datetime.now(UTC)
    seed(engine, tokens=[token("t1", real_now + timedelta(days=5), owners=["U0OWNER"])], now=real_now)
    engine.dispose()
    env = {**cli_env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url}
    dry = cli(["digest", "--dry-run"], env, tmp_path)
    assert dry.returncode == 0 and "would post the weekly digest" in dry.stdout and "Token t1" in dry.stdout
    assert slack.calls_to("chat.postMessage") == []
    first = cli(["digest", "--channel", "C0ALERTS"], env, tmp_path)
    assert first.returncode == 0 and "digest: C0ALERTS: posted (" in first.stdout, first.stderr
    second = cli(["digest", "--channel", "C0ALERTS"], env, tmp_path)
    assert second.returncode == 0 and "digest: C0ALERTS: already posted this week" in second.stdout
    (post,) = [c for c in slack.calls_to("chat.postMessage") if not c.failed]
    assert "Token t1" in str(post.params["blocks"])


def test_escalate_to_is_imported_or_refused_by_entry_and_line(sqlite_engine, tmp_path):
    seed(sqlite_engine, tokens=[token("t1", NOW + timedelta(days=5), escalate_to="S0ONCALL"),
                                token("t2", NOW + timedelta(days=5), escalate_to="channel")], now=NOW)
    with session_scope(sqlite_engine) as s:
        assert [t.escalate_to for t in s.exec(select(Token).order_by(Token.id)).all()] == ["S0ONCALL", "channel"]
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"tokens": [token("t3", "2027-01-01", escalate_to="U0PERSON")]}))
    with pytest.raises(ImportFileError) as exc, session_scope(sqlite_engine) as s:
        import_file(path, session=s, now=NOW)
    rendered = exc.value.render()
    assert "escalate_to 'U0PERSON' is not a user group id (S…) or the word channel" in rendered
    assert "t3" in rendered and "line" in rendered
