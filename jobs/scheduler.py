"""APScheduler set-up. It only wakes the work up; the database records what was done.

One scheduler per process with an in-memory job store (APScheduler 3 must not
share a store between processes). Concurrent replicas are safe because
planning and claiming are decided by the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger(__name__)

RETRY_INTERVAL = timedelta(seconds=30)


def guarded(job: Callable[[], object], name: str) -> Callable[[], None]:
    """A scheduled job must survive a bad pass (database down, Slack down): log, carry on."""
    def run() -> None:
        try:
            job()
        except Exception:
            logger.exception("%s failed; the next run will try again", name)
    run.__name__ = name
    return run


def build_scheduler(*, scan: Callable[[], object], deliver: Callable[[], object], interval_minutes: float,
                    clock: Callable[[], datetime]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
        "coalesce": True,  # after a stall, one catch-up run, not a burst
        "max_instances": 1,
        "misfire_grace_time": None,  # a late run still runs: never skip an expiry check
    })
    # next_run_time=now: the scan also runs at start-up.
    scheduler.add_job(guarded(scan, "scan"), "interval", minutes=interval_minutes, id="scan", next_run_time=clock())
    # Failed posts come back sooner than the next full scan.
    scheduler.add_job(guarded(deliver, "deliver"), "interval", seconds=RETRY_INTERVAL.total_seconds(), id="deliver")
    return scheduler
