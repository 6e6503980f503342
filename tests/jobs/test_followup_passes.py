"""Which tokens a planning pass reads: the full pass over every expired token once a local day after
REMINDER_HOUR (marked done with a `Once` key once complete), only the tokens near their expiry otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from jobs.followups import plan_followups
from jobs.scan import scan
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.followup_commands import followup_dry_run_lines
from renewbot.runtime.slack_client import make_client
from storage import followups as reads
from storage.db import session_scope
from storage.models import Followup, Notice, Once, Token
from tests.conftest import NOW
from tests.support.seed import seed, token

SETTINGS = AttentionSettings()  # 4 hours, reminders at 09:00 UTC
DAY = (NOW + timedelta(days=1)).replace(hour=9)  # 2026-11-27 09:00 UTC: the first reminder slot after NOW
LONG_AGO = "t-expired-long-ago"


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


def expired_and_near(engine, client, *ids: str):
    """Tokens (`ids`) expired ten days before NOW and one expiring two days after it, their notices posted at
    NOW (the expired ones and a 3d one) by a scan that plans no follow-ups."""
    seed(engine, tokens=[*(token(i, NOW - timedelta(days=10, minutes=n), owners=["U0OWNER"])
                           for n, i in enumerate(ids or (LONG_AGO,))),
                         token("t-near", NOW + timedelta(days=2), owners=["U0OWNER"])], now=NOW)
    scan(engine=engine, client=client, now=NOW)


def planned(engine) -> list[tuple[str, str, str]]:
    with session_scope(engine) as s:
        return sorted((f.token_id, f.kind, f.key) for f in s.exec(select(Followup)).all())


def marks(engine) -> list[str]:
    with session_scope(engine) as s:
        return sorted(k for k in s.exec(select(Once.key)).all() if k.startswith("reminders-planned:"))


class Reads:
    """The token and notice rows a pass loads, and every parameter it binds."""

    def __init__(self, engine):
        self.engine, self.tokens, self.notices, self.params = engine, [], [], []
        self.listeners = [(Token, "load", lambda target, context: self.tokens.append(target.id)),
                          (Notice, "load", lambda target, context: self.notices.append(target.token_id)),
                          (engine, "before_cursor_execute",
                           lambda conn, cursor, statement, parameters, *rest: self.params.append(repr(parameters)))]

    def __enter__(self):
        for target, name, fn in self.listeners:
            event.listen(target, name, fn)
        return self

    def __exit__(self, *exc):
        for target, name, fn in self.listeners:
            event.remove(target, name, fn)


def test_a_second_scan_the_same_day_reads_no_expired_token_again(engine, client):
    expired_and_near(engine, client)
    first = plan_followups(engine=engine, now=DAY, settings=SETTINGS)
    assert first.daily and first.planned == 3
    assert planned(engine) == [(LONG_AGO, "expiry", "expired"), (LONG_AGO, "reminder", "2026-11-27"),
                               ("t-near", "escalation", "3d")]
    assert marks(engine) == ["reminders-planned:2026-11-27"]
    for at in (DAY + timedelta(minutes=15), DAY + timedelta(hours=14, minutes=59)):  # 23:59 UTC
        with Reads(engine) as seen:
            report = plan_followups(engine=engine, now=at, settings=SETTINGS)
        assert not report.daily and report.planned == 0
        assert seen.tokens == ["t-near"] and set(seen.notices) == {"t-near"}  # the near one only
        assert not any(LONG_AGO in p for p in seen.params)
    # After midnight, before the hour: the latest reminder day is still 2026-11-27, already done.
    with Reads(engine) as seen:
        report = plan_followups(engine=engine, now=DAY + timedelta(hours=23, minutes=59), settings=SETTINGS)
    assert not report.daily and LONG_AGO not in seen.tokens


def test_the_next_days_reminder_is_still_planned(engine, client):
    expired_and_near(engine, client)
    plan_followups(engine=engine, now=DAY, settings=SETTINGS)
    report = plan_followups(engine=engine, now=DAY + timedelta(days=1), settings=SETTINGS)
    assert report.daily and report.planned == 1
    assert (LONG_AGO, "reminder", "2026-11-28") in planned(engine)
    assert marks(engine) == ["reminders-planned:2026-11-27", "reminders-planned:2026-11-28"]
    assert plan_followups(engine=engine, now=DAY + timedelta(days=1, hours=1), settings=SETTINGS).planned == 0


def test_a_pass_missed_while_down_runs_at_the_next_scan_with_one_late_reminder(engine, client):
    expired_and_near(engine, client)
    plan_followups(engine=engine, now=DAY, settings=SETTINGS)
    # Down from 2026-11-27 10:00 to 2026-11-29 03:00: the 28th's pass never ran; its slot is the latest.
    back = DAY + timedelta(days=1, hours=18)
    report = plan_followups(engine=engine, now=back, settings=SETTINGS)
    assert report.daily and report.planned == 1
    assert plan_followups(engine=engine, now=back + timedelta(minutes=15), settings=SETTINGS).daily is False
    assert plan_followups(engine=engine, now=DAY + timedelta(days=2), settings=SETTINGS).planned == 1
    assert [k for t, kind, k in planned(engine) if kind == "reminder"] == ["2026-11-27", "2026-11-28",
                                                                           "2026-11-29"]


def test_a_crash_before_the_mark_reruns_the_pass_and_plans_nothing_twice(engine, client, monkeypatch):
    expired_and_near(engine, client, "t-a", "t-b")  # t-b expired a minute before t-a: read first
    posted_for, calls = reads.posted_for, []

    def crash_on_the_second_page(**kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed mid-pass")
        return posted_for(**kw)

    monkeypatch.setattr(reads, "posted_for", crash_on_the_second_page)
    with pytest.raises(RuntimeError):
        plan_followups(engine=engine, now=DAY, settings=SETTINGS, chunk=1)
    monkeypatch.setattr(reads, "posted_for", posted_for)
    assert planned(engine) == [("t-b", "expiry", "expired"), ("t-b", "reminder", "2026-11-27")]  # page 1 committed
    assert marks(engine) == []
    rerun = plan_followups(engine=engine, now=DAY + timedelta(minutes=15), settings=SETTINGS, chunk=1)
    assert rerun.daily and rerun.planned == 3  # t-a's two and t-near's escalation; t-b's not again
    assert planned(engine) == [("t-a", "expiry", "expired"), ("t-a", "reminder", "2026-11-27"),
                               ("t-b", "expiry", "expired"), ("t-b", "reminder", "2026-11-27"),
                               ("t-near", "escalation", "3d")]
    assert marks(engine) == ["reminders-planned:2026-11-27"]
    assert not plan_followups(engine=engine, now=DAY + timedelta(minutes=30), settings=SETTINGS).daily


def test_the_escalation_at_expiry_after_the_days_pass_comes_from_the_near_window(engine, client):
    seed(engine, tokens=[token("t1", DAY + timedelta(hours=3), owners=["U0OWNER"])], now=NOW)
    scan(engine=engine, client=client, now=DAY - timedelta(hours=20))  # its 1d notice
    assert plan_followups(engine=engine, now=DAY, settings=SETTINGS).daily  # the day's pass, before the expiry
    scan(engine=engine, client=client, now=DAY + timedelta(hours=3))  # the expired notice
    report = plan_followups(engine=engine, now=DAY + timedelta(hours=3), settings=SETTINGS)
    assert not report.daily and ("t1", "expiry", "expired") in planned(engine)


def test_a_dry_run_shows_the_days_reminders_without_marking_the_day(engine, client):
    expired_and_near(engine, client)
    lines = "\n".join(followup_dry_run_lines(engine, DAY, SETTINGS))
    assert "reminder 2026-11-27:" in lines and "expiry expired:" in lines
    assert marks(engine) == [] and planned(engine) == []
    assert plan_followups(engine=engine, now=DAY, settings=SETTINGS).planned == 3
    later = "\n".join(followup_dry_run_lines(engine, DAY + timedelta(days=1), SETTINGS))
    assert "reminder 2026-11-28:" in later
    assert marks(engine) == ["reminders-planned:2026-11-27"]
