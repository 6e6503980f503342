"""The weekly digest: one message per channel and ISO week, planned under (channel, week) and sent once.

Once this week's slot (DIGEST_DAY at DIGEST_TIME in DIGEST_TZ) has passed, every pass plans a row for each
channel that has tokens; a second plan is a no-op, so replicas and restarts make one. A week whose slot passed
while renewbot was down is planned at the next pass: late, not skipped. The content is read when the row is
sent; with nothing to say the row is closed as "skipped", so the week is still done exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from jobs.deliver import SlackHealth
from jobs.followups import OutboxReport, Post, drain, seal
from jobs.pacing import ChannelPacer
from renewbot.blocks.followups import digest_message, digest_metadata
from renewbot.blocks.ids import DIGEST_EVENT_TYPE
from renewbot.domain.attention import DigestSlot, digest_slot
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.metrics import NO_METRICS, Metrics
from storage import followups as reads
from storage import outbox
from storage.db import session_scope
from storage.models import Digest, NoticeState

HORIZON = timedelta(days=30)  # tokens expiring this soon are listed


def this_week(now: datetime, settings: AttentionSettings) -> DigestSlot:
    return digest_slot(now, day=settings.digest_day, hour=settings.digest_hour, minute=settings.digest_minute,
                       tz=settings.digest_tz)


def digest_content(*, session, channel: str, week: str, now: datetime) -> tuple[str, list[dict]] | None:
    """The channel's digest as of `now`, or None when there is nothing to say."""
    items = [(token.name, token.expires_at, link)
             for token, link in reads.digest_tokens(session=session, channel=channel, until=now + HORIZON)]
    return digest_message(channel, week, items, now)


@dataclass(frozen=True)
class PlannedDigest:
    channel: str
    week: str
    new: bool  # False: this week's row was already there
    state: str  # as stored after planning ("pending" when new)


def plan_digests(*, engine: Engine, now: datetime, settings: AttentionSettings, channel: str | None = None,
                 force: bool = False) -> list[PlannedDigest]:
    """This week's digest row for each channel (or `channel`) once the slot has passed (or at once with `force`,
    for `renewbot digest`). Safe to run twice or concurrently: the unique (channel, week) key decides."""
    slot = this_week(now, settings)
    if not force and now < slot.at:
        return []
    out = []
    with session_scope(engine) as session:
        channels = [channel] if channel is not None else reads.digest_channels(session=session)
        for name in channels:
            row = outbox.insert_if_absent(Digest, session=session, key=("channel", "week"), values=dict(
                channel=name, week=slot.week, state=NoticeState.PENDING, attempts=0, created_at=now))
            state = NoticeState.PENDING if row is not None else session.exec(
                select(Digest.state).where(Digest.channel == name, Digest.week == slot.week)).one()
            out.append(PlannedDigest(name, slot.week, row is not None, state))
    return out


def deliver_digests(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
                    health: SlackHealth | None = None, channel: str | None = None,
                    metrics: Metrics = NO_METRICS) -> OutboxReport:
    """Posts every claimable digest (only `channel`'s, if given); an empty one is closed as skipped."""
    report = OutboxReport()

    def prepare(row_id: int, at: datetime) -> Post | None:
        with session_scope(engine) as session:
            row = session.get(Digest, row_id)
            content = digest_content(session=session, channel=row.channel, week=row.week, now=at)
            if content is None:
                outbox.close(Digest, session=session, row_id=row_id, state=outbox.SKIPPED, reason="nothing to say")
                report.closed.append(row_id)
                return None
        text, blocks = content
        return Post(row_id, row.attempts, row.channel, None, text, blocks,
                    digest_metadata(row_id, row.week, seal(client, "digest", row_id)), DIGEST_EVENT_TYPE, "digest_id",
                    "digest")

    return drain(Digest, prepare, engine=engine, client=client, now=now, pacer=pacer or ChannelPacer(),
                 health=health or SlackHealth(), report=report,
                 where=None if channel is None else Digest.channel == channel, metrics=metrics)


def run_digests(*, engine: Engine, client: WebClient, now: datetime, settings: AttentionSettings,
                pacer: ChannelPacer | None = None, health: SlackHealth | None = None,
                metrics: Metrics = NO_METRICS) -> OutboxReport:
    """The scan's part: plan this week's digests once their slot has passed, then send what is due."""
    plan_digests(engine=engine, now=now, settings=settings)
    return deliver_digests(engine=engine, client=client, now=now, pacer=pacer, health=health, metrics=metrics)
