"""One pass of the scheduler's work: plan, then deliver."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from jobs.deliver import DeliveryReport, SlackHealth, deliver_due
from jobs.pacing import ChannelPacer
from jobs.plan import plan_notices

logger = logging.getLogger(__name__)


@dataclass
class ScanReport:
    planned: int
    delivery: DeliveryReport


def scan(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
         health: SlackHealth | None = None) -> ScanReport:
    """Plans what is due, then delivers it; while Slack refuses the bot token (`health`) it only plans."""
    planned = plan_notices(engine=engine, now=now)
    delivery = deliver_due(engine=engine, client=client, now=now, pacer=pacer, health=health)
    if planned or delivery.sent or delivery.retrying or delivery.failed:
        logger.info("scan: %d planned, %d sent, %d to retry, %d failed", planned, len(delivery.sent),
                    len(delivery.retrying), len(delivery.failed))
    return ScanReport(planned, delivery)
