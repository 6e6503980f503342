"""One pass of the scheduler's work: plan, then deliver."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from jobs.connect import ConnectReport, deliver_connectors
from jobs.deliver import DeliveryReport, SlackHealth, deliver_due
from jobs.digest import run_digests
from jobs.followups import OutboxReport, deliver_followups, plan_followups
from jobs.outbox_send import running_clock
from jobs.pacing import ChannelPacer
from jobs.permalinks import backfill_permalinks
from jobs.plan import plan_notices
from jobs.sources import refresh_sources
from renewbot.crypto import SecretBox
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.metrics import NO_METRICS, Metrics

logger = logging.getLogger(__name__)


@dataclass
class ScanReport:
    planned: int
    delivery: DeliveryReport
    connectors: ConnectReport | None = None  # None when the scan was given no key to read secrets with
    followups_planned: int = 0
    followups: OutboxReport | None = None  # escalations and reminders
    digests: OutboxReport | None = None


def scan(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
         health: SlackHealth | None = None, box: SecretBox | None = None,
         environ: Mapping[str, str] | None = None, metrics: Metrics | None = None,
         attention: AttentionSettings | None = None) -> ScanReport:
    """Plans what is due, then delivers it; while Slack refuses the bot token (`health`) it only plans. With
    `attention` (Settings.attention), escalations, reminders and the weekly digest too."""
    metrics = metrics or NO_METRICS
    with metrics.scan_timer():
        return _scan(engine=engine, client=client, now=now, pacer=pacer, health=health, box=box, environ=environ,
                     metrics=metrics, attention=attention)


def _scan(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None,
          health: SlackHealth | None, box: SecretBox | None, environ: Mapping[str, str] | None,
          metrics: Metrics, attention: AttentionSettings | None) -> ScanReport:
    # `now` moving on with the real time spent: the steps after the notices' pacing (minutes, maybe) claim with
    # leases from the time of the claim, not from the scan's start, which could have run out when granted.
    clock = running_clock(now)
    # First: an expiry read from its source plans now.
    refresh_sources(engine=engine, client=client, now=now, health=health)
    planned = plan_notices(engine=engine, now=now, metrics=metrics)
    delivery = deliver_due(engine=engine, client=client, now=now, pacer=pacer, health=health, metrics=metrics)
    if planned or delivery.sent or delivery.retrying or delivery.failed:
        logger.info("scan: %d planned, %d sent, %d to retry, %d failed", planned, len(delivery.sent),
                    len(delivery.retrying), len(delivery.failed))
    if not delivery.refused:  # open notices still without a link (a bounded number a pass)
        backfill_permalinks(engine=engine, client=client)
    # Follow-ups answer in notices' threads, so they come after the notices (an expired one posted just now).
    # Without `attention` (the settings' schedule) a scan handles notices only.
    followups_planned, followups, digests = 0, None, None
    if attention is not None:
        followups_planned = plan_followups(engine=engine, now=clock(), settings=attention, metrics=metrics).planned
        followups = deliver_followups(engine=engine, client=client, clock=clock, settings=attention, pacer=pacer,
                                      health=health, metrics=metrics)
        digests = run_digests(engine=engine, client=client, clock=clock, settings=attention, pacer=pacer,
                              health=health, metrics=metrics)
        if followups_planned or followups.sent or followups.retrying or digests.sent or digests.retrying:
            logger.info("scan: follow-ups %d planned, %d sent, %d to retry; digests %d sent, %d to retry",
                        followups_planned, len(followups.sent), len(followups.retrying), len(digests.sent),
                        len(digests.retrying))
    # Renewals to send to their platforms (`box` decrypts their secrets at send time; `environ` signs them).
    connectors = (deliver_connectors(engine=engine, client=client, box=box, now=now, environ=environ, metrics=metrics)
                  if box is not None else None)
    return ScanReport(planned, delivery, connectors, followups_planned, followups, digests)
