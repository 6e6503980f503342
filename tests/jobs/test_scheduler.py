"""The APScheduler wiring: interval from settings, a run at start-up, no dropped runs, errors survived."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from jobs.scheduler import RETRY_INTERVAL, build_scheduler, guarded
from tests.conftest import NOW


def test_scan_runs_at_start_up_then_on_the_configured_interval():
    scheduler = build_scheduler(scan=lambda: None, deliver=lambda: None, interval_minutes=7, clock=lambda: NOW)
    scheduler.start(paused=True)
    try:
        scan, deliver = scheduler.get_job("scan"), scheduler.get_job("deliver")
        assert scan.next_run_time == NOW
        assert scan.trigger.interval == timedelta(minutes=7)
        assert deliver.trigger.interval == RETRY_INTERVAL
        for job in (scan, deliver):
            assert job.misfire_grace_time is None and job.coalesce and job.max_instances == 1
    finally:
        scheduler.shutdown(wait=False)


def test_a_running_scheduler_calls_the_scan_at_start_up():
    calls = []
    from renewbot.runtime.deps import utc_now
    scheduler = build_scheduler(scan=lambda: calls.append("scan"), deliver=lambda: None, interval_minutes=15,
                                clock=utc_now)
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.shutdown(wait=True)
    assert calls == ["scan"]


def test_a_failing_pass_is_logged_and_does_not_escape(caplog):
    def broken():
        raise RuntimeError("database is down")

    with caplog.at_level(logging.ERROR):
        guarded(broken, "scan")()
    assert "scan failed; the next run will try again" in caplog.text
