"""Delivery does not depend on the order of the rows: each channel drains at its own pace, claiming only
what it has in flight, and concurrent deliveries still post each notice once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from jobs.deliver import CLAIM_AHEAD, HOLD_LIMIT, deliver_due
from jobs.pacing import ChannelPacer
from jobs.plan import plan_notices
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import Notice, NoticeState
from tests.conftest import NOW
from tests.jobs.together import run_together
from tests.support.seed import seed, token


def seed_grouped(engine, channels: int, per_channel: int) -> None:
    """All of channel 0's notices, then all of channel 1's, ...: as one team's import arrives."""
    # One second apart, so planning (by notify_from) numbers the notices in this order.
    seed(engine, now=NOW, tokens=[token(f"t{c}-{i:03d}", NOW + timedelta(days=2, seconds=c * per_channel + i),
                                        channel=f"C0CH{c}")
                                  for c in range(channels) for i in range(per_channel)])
    assert plan_notices(engine=engine, now=NOW) == channels * per_channel


def posted_notice_ids(slack) -> list[int]:
    return [c.params["metadata"]["event_payload"]["notice_id"]
            for c in slack.calls_to("chat.postMessage") if not c.failed]


def states(engine) -> Counter:
    with session_scope(engine) as s:
        return Counter(s.exec(select(Notice.state)).all())


def test_channels_grouped_by_id_drain_in_parallel_not_one_after_another(sqlite_engine, slack):
    # 3 x 30 grouped: rounds of 50 by id took ~2 channels' time each, about twice one channel's bound.
    channels, per_channel, interval = 3, 30, 0.1
    seed_grouped(sqlite_engine, channels, per_channel)
    client = make_client("xoxb-test", slack.url)
    started = time.monotonic()
    report = deliver_due(engine=sqlite_engine, client=client, now=NOW, pacer=ChannelPacer(interval))
    elapsed = time.monotonic() - started
    assert len(report.sent) == channels * per_channel and not report.retrying
    one_channel = (per_channel - 1) * interval  # 2.9 s
    # A loose bound on a busy machine (CI shares its cores); the claim itself is the order below.
    assert elapsed < one_channel * 1.8, elapsed  # rounds of 50 by id: ~5.8 s
    # Every channel starts at once, and keeps its pace: none waits for the one before it. In arrival order, the
    # first third of the posts already holds a good share of every channel (rounds of 50 by id held none of C0CH2).
    posts = [c for c in slack.calls_to("chat.postMessage") if not c.failed]
    first_third = Counter(c.params["channel"] for c in posts[:len(posts) // 3])
    for channel in range(channels):
        assert sum(1 for c in posts if c.params["channel"] == f"C0CH{channel}") == per_channel
        assert first_third[f"C0CH{channel}"] >= per_channel // 5, first_third


class SendingWatch(ChannelPacer):
    """Counts the notices held in "sending" each time a post is about to go out."""

    def __init__(self, engine, interval: float) -> None:
        super().__init__(interval)
        self.engine, self.seen = engine, []

    def wait(self, channel: str) -> None:
        with session_scope(self.engine) as s:
            self.seen.append(s.exec(select(func.count()).where(Notice.state == NoticeState.SENDING)).one())
        super().wait(channel)


def test_leases_cover_only_what_is_in_flight(engine, slack):
    channels = 3
    seed_grouped(engine, channels, 8)
    pacer = SendingWatch(engine, 0.02)
    report = deliver_due(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW, pacer=pacer)
    assert len(report.sent) == 24
    assert 1 <= max(pacer.seen) <= channels * CLAIM_AHEAD  # never the whole backlog, nor a round of 50
    assert states(engine) == {NoticeState.SENT: 24}


def test_two_concurrent_deliveries_post_each_notice_once(engine, slack):
    seed_grouped(engine, 3, 8)
    client = make_client("xoxb-test", slack.url)
    # Two replicas: a pacer each, the database the only thing they share.
    reports = run_together(2, lambda: deliver_due(engine=engine, client=client, now=NOW, pacer=ChannelPacer(0.02)))
    posted = posted_notice_ids(slack)
    assert len(posted) == 24 and len(set(posted)) == 24  # each notice once
    first, second = (set(r.sent) for r in reports)
    assert not first & second and len(first | second) == 24
    assert states(engine) == {NoticeState.SENT: 24}


def test_a_channel_rate_limited_for_long_hands_its_claim_back_and_the_others_drain(sqlite_engine, slack):
    seed_grouped(sqlite_engine, 2, 5)
    slack.throttled_channels["C0CH0"] = 90  # every post there: 429, Retry-After 90 (longer than HOLD_LIMIT)
    client = make_client("xoxb-test", slack.url)
    client.retry_handlers = []
    started = time.monotonic()
    report = deliver_due(engine=sqlite_engine, client=client, now=NOW, pacer=ChannelPacer(0.02))
    assert time.monotonic() - started < 3  # nobody sat out the 90 s
    assert HOLD_LIMIT.total_seconds() < 90
    # One try on the throttled channel, not a busy loop; the rest of its claim went back untried.
    assert len([c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C0CH0"]) == 1
    assert len(report.sent) == 5 and len(report.retrying) == CLAIM_AHEAD
    with session_scope(sqlite_engine) as s:
        throttled = s.exec(select(Notice).where(Notice.channel == "C0CH0").order_by(Notice.id)).all()
    assert {n.state for n in throttled} == {NoticeState.PENDING}
    claimed, never_claimed = throttled[:CLAIM_AHEAD], throttled[CLAIM_AHEAD:]
    assert all(n.next_attempt_at >= NOW + timedelta(seconds=85) for n in claimed)
    assert all(n.next_attempt_at is None for n in never_claimed)
    # Only the one that was posted counts an attempt (and so checks history before its retry).
    assert [n.attempts for n in throttled] == [1, 0, 0, 0, 0]


def test_a_channel_failing_every_post_stops_for_the_pass_without_holding_up_the_others(sqlite_engine, slack):
    seed_grouped(sqlite_engine, 2, 4)
    slack.throttled_channels["C0CH1"] = 1  # a short Retry-After: waited out in place, then tried again
    client = make_client("xoxb-test", slack.url)
    client.retry_handlers = []
    report = deliver_due(engine=sqlite_engine, client=client, now=NOW, pacer=ChannelPacer(0.02))
    assert len(report.sent) == 4 and not report.failed
    tries = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C0CH1"]
    assert len(tries) <= CLAIM_AHEAD  # one batch with nothing through ends the channel's pass
    assert states(sqlite_engine)[NoticeState.SENT] == 4
