"""The weekly digest: one message per channel and ISO week, planned under (channel, week) and sent once.

Once a week's slot (DIGEST_DAY at DIGEST_TIME in DIGEST_TZ) has passed, the next pass plans a row for each
channel with something to say and records that the week is planned (a `Once` key), so the passes after it
cost one lookup, not a read of the token table; a second plan is a no-op, so replicas and restarts make one.
A slot that passed while renewbot was down is planned at the next pass, late, even when the ISO week has
turned over since (the latest slot at or before now is due). The content is read when the row is sent; with
nothing to say the row is closed as "skipped", so the week is still done exactly once.

`renewbot digest` before this week's slot posts under its own key (the week + "m") so that an early manual
run never uses up the scheduled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from jobs.deliver import SlackHealth
from jobs.outbox_send import Clock, OutboxReport, Post, drain, running_clock, seal
from jobs.pacing import ChannelPacer
from renewbot.blocks.followups import DIGEST_ROWS, digest_message, digest_metadata
from renewbot.blocks.ids import DIGEST_EVENT_TYPE
from renewbot.domain.attention import DigestSlot, digest_slot, latest_digest_slot
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.metrics import NO_METRICS, Metrics
from storage import followups as reads
from storage import once, outbox
from storage.db import session_scope
from storage.models import Digest, NoticeState

HORIZON = timedelta(days=30)  # tokens expiring this soon are listed
MANUAL = "m"  # the key suffix of a `renewbot digest` run before the week's slot
PLANNED_FOR = timedelta(days=21)  # how long a week's "planned" mark is kept: past any slot that can still be due


def this_week(now: datetime, settings: AttentionSettings) -> DigestSlot:
    return digest_slot(now, day=settings.digest_day, hour=settings.digest_hour, minute=settings.digest_minute,
                       tz=settings.digest_tz)


def due_slot(now: datetime, settings: AttentionSettings) -> DigestSlot:
    """The latest slot at or before `now`: this week's, or last week's while this week's is still ahead."""
    return latest_digest_slot(now, day=settings.digest_day, hour=settings.digest_hour,
                              minute=settings.digest_minute, tz=settings.digest_tz)


def manual_week(now: datetime, settings: AttentionSettings) -> str:
    """The key of `renewbot digest` at `now`: the week's own once its slot has passed (so the scheduled run and
    a manual one post once between them), else the week + MANUAL."""
    slot = this_week(now, settings)
    return slot.week if now >= slot.at else slot.week + MANUAL


def digest_content(*, session, channel: str, week: str, now: datetime) -> tuple[str, list[dict]] | None:
    """The channel's digest as of `now`, or None when there is nothing to say. Reads the first DIGEST_ROWS
    tokens and counts the rest, whatever the channel holds."""
    until = now + HORIZON
    items = [(token.name, token.expires_at, link)
             for token, link in reads.digest_tokens(session=session, channel=channel, until=until, limit=DIGEST_ROWS)]
    counts = reads.digest_counts(session=session, channel=channel, now=now, until=until) \
        if len(items) >= DIGEST_ROWS else None
    return digest_message(channel, week.removesuffix(MANUAL), items, now, counts)


@dataclass(frozen=True)
class PlannedDigest:
    channel: str
    week: str
    new: bool  # False: this week's row was already there
    state: str  # as stored after planning ("pending" when new)


def _planned_key(week: str) -> str:
    return f"digest-planned:{week}"


def plan_digests(*, engine: Engine, now: datetime, settings: AttentionSettings) -> list[PlannedDigest]:
    """The due week's digest row for each channel with something to say, once per week: after the first plan
    of a week, a pass costs one insert that does nothing. Safe to run twice or concurrently: the `Once` key
    and the unique (channel, week) key decide."""
    slot = due_slot(now, settings)
    with session_scope(engine) as session:
        if not once.claim(session=session, key=_planned_key(slot.week), expires_at=slot.at + PLANNED_FOR):
            return []
        return [_plan(session, name, slot.week, now)
                for name in reads.digest_channels(session=session, until=now + HORIZON)]


def plan_manual(*, engine: Engine, now: datetime, settings: AttentionSettings,
                channel: str | None = None) -> list[PlannedDigest]:
    """`renewbot digest`: a row for `channel` (or each channel with something to say) under `manual_week`."""
    week = manual_week(now, settings)
    with session_scope(engine) as session:
        channels = [channel] if channel is not None else reads.digest_channels(session=session, until=now + HORIZON)
        return [_plan(session, name, week, now) for name in channels]


def _plan(session, channel: str, week: str, now: datetime) -> PlannedDigest:
    row = outbox.insert_if_absent(Digest, session=session, key=("channel", "week"), values=dict(
        channel=channel, week=week, state=NoticeState.PENDING, attempts=0, created_at=now))
    state = NoticeState.PENDING if row is not None else session.exec(
        select(Digest.state).where(Digest.channel == channel, Digest.week == week)).one()
    return PlannedDigest(channel, week, row is not None, state)


def deliver_digests(*, engine: Engine, client: WebClient, now: datetime | None = None, clock: Clock | None = None,
                    pacer: ChannelPacer | None = None, health: SlackHealth | None = None,
                    channel: str | None = None, metrics: Metrics = NO_METRICS) -> OutboxReport:
    """Posts claimable digests (only `channel`'s, if given; a bounded pass); an empty one is closed as skipped.
    `clock` tells the time at each claim; a fixed `now` runs on from there."""
    report = OutboxReport()

    def prepare(row_id: int, at: datetime, fence: datetime) -> Post | None:
        with session_scope(engine) as session:
            row = session.get(Digest, row_id)
            content = digest_content(session=session, channel=row.channel, week=row.week, now=at)
            if content is None:
                outbox.close(Digest, session=session, row_id=row_id, fence=fence, state=outbox.SKIPPED,
                             reason="nothing to say")
                report.closed.append(row_id)
                return None
        text, blocks = content
        return Post(row_id, row.attempts, row.channel, None, text, blocks,
                    digest_metadata(row_id, row.week, seal(client, "digest", row_id)), DIGEST_EVENT_TYPE, "digest_id",
                    "digest")

    return drain(Digest, prepare, engine=engine, client=client, clock=clock or running_clock(now),
                 pacer=pacer or ChannelPacer(), health=health or SlackHealth(), report=report,
                 where=None if channel is None else Digest.channel == channel, metrics=metrics)


def run_digests(*, engine: Engine, client: WebClient, settings: AttentionSettings, now: datetime | None = None,
                clock: Clock | None = None, pacer: ChannelPacer | None = None, health: SlackHealth | None = None,
                metrics: Metrics = NO_METRICS) -> OutboxReport:
    """The scan's part: plan the due week's digests once, then send what is due."""
    clock = clock or running_clock(now)
    plan_digests(engine=engine, now=clock(), settings=settings)
    return deliver_digests(engine=engine, client=client, clock=clock, pacer=pacer, health=health, metrics=metrics)
