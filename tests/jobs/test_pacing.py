"""Delivery paces itself per channel: no 429s from a channel limit, and one slow channel holds up no other."""

from __future__ import annotations

import time
from datetime import timedelta

from jobs.deliver import deliver_due
from jobs.pacing import ChannelPacer
from jobs.plan import plan_notices
from renewbot.runtime.slack_client import make_client
from tests.conftest import NOW
from tests.support.seed import seed, token


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_spaces_posts_per_channel_and_not_across_channels():
    t = FakeTime()
    pacer = ChannelPacer(1.0, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        pacer.wait("C1")
    pacer.wait("C2")  # not held back by C1
    assert t.slept == [1.0, 1.0]
    pacer.back_off("C2", 5)
    pacer.wait("C2")
    assert t.slept[-1] == 5


def test_deliveries_respect_a_one_per_second_channel_limit(sqlite_engine, slack):
    slack.set_channel_rate_limit(per_second=1, burst=1)
    seed(sqlite_engine, now=NOW, tokens=[token(f"t{i}", NOW + timedelta(days=2), channel=f"C0CH{i % 2}")
                                         for i in range(6)])
    plan_notices(engine=sqlite_engine, now=NOW)
    client = make_client("xoxb-test", slack.url)
    client.retry_handlers = []  # a 429 must not be hidden by a retry
    started = time.monotonic()
    report = deliver_due(engine=sqlite_engine, client=client, now=NOW, pacer=ChannelPacer())
    elapsed = time.monotonic() - started
    assert len(report.sent) == 6 and slack.rate_limited == 0
    assert 1.9 <= elapsed < 4  # 3 per channel, the two channels in parallel: about 2 s, not 5


def test_a_rate_limited_channel_does_not_hold_up_the_others(sqlite_engine, slack):
    seed(sqlite_engine, now=NOW, tokens=[token("slow", NOW + timedelta(days=2), channel="C0SLOW")] +
         [token(f"t{i}", NOW + timedelta(days=2), channel=f"C0FAST{i}") for i in range(3)])
    plan_notices(engine=sqlite_engine, now=NOW)
    client = make_client("xoxb-test", slack.url)
    client.retry_handlers = []
    slack.fail_next("chat.postMessage", status=429, retry_after=30)  # whichever goes first is throttled
    started = time.monotonic()
    report = deliver_due(engine=sqlite_engine, client=client, now=NOW, pacer=ChannelPacer())
    assert time.monotonic() - started < 3
    assert len(report.sent) == 3 and len(report.retrying) == 1


def test_backoff_stays_at_its_cap_however_long_an_outage_lasts():
    """A day of Slack or platform outage is ~100 attempts; 2**100 steps once overflowed a timedelta and left the
    row stuck being reclaimed."""
    import random as _random

    from jobs.pacing import BACKOFF_CAP, backoff

    doubling = {1: 30, 2: 60, 3: 120, 4: 240, 5: 480}  # seconds: BACKOFF_BASE doubled per failure
    for attempts in (1, 2, 3, 4, 5, 6, 11, 36, 100, 10_000):
        ceiling = timedelta(seconds=doubling[attempts]) if attempts in doubling else BACKOFF_CAP
        waits = [backoff(attempts, _random.Random(seed)) for seed in range(8)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (attempts, waits)
        assert len(set(waits)) > 1, attempts  # jittered: replicas that failed together spread out
    assert backoff(1, _random.Random(1)).total_seconds() <= 30
