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
from jobs.pacing import ChannelPacer
from jobs.plan import plan_notices
from jobs.sources import refresh_sources
from renewbot.crypto import SecretBox

logger = logging.getLogger(__name__)


@dataclass
class ScanReport:
    planned: int
    delivery: DeliveryReport
    connectors: ConnectReport | None = None  # None when the scan was given no key to read secrets with


def scan(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
         health: SlackHealth | None = None, box: SecretBox | None = None,
         environ: Mapping[str, str] | None = None) -> ScanReport:
    """Plans what is due, then delivers it; while Slack refuses the bot token (`health`) it only plans."""
    # First: an expiry read from its source plans now.
    refresh_sources(engine=engine, client=client, now=now, health=health)
    planned = plan_notices(engine=engine, now=now)
    delivery = deliver_due(engine=engine, client=client, now=now, pacer=pacer, health=health)
    if planned or delivery.sent or delivery.retrying or delivery.failed:
        logger.info("scan: %d planned, %d sent, %d to retry, %d failed", planned, len(delivery.sent),
                    len(delivery.retrying), len(delivery.failed))
    # Renewals to send to their platforms (`box` decrypts their secrets at send time; `environ` signs them).
    connectors = (deliver_connectors(engine=engine, client=client, box=box, now=now, environ=environ)
                  if box is not None else None)
    return ScanReport(planned, delivery, connectors)
