"""Follow-ups: escalations, the escalation at expiry and reminders after expiry, planned then delivered.

Planning inserts one Followup row per (token, expiry, kind, key) when it comes due: two replicas planning at
once make one row, a restart makes none. It reads the tokens near or past their expiry in keyset pages of
`chunk` (ix_token_expires_at), a transaction per page, so its cost and its IN lists stay bounded however many
tokens have expired. Delivery (jobs/outbox_send) claims rows with a lease, re-checks here that nobody renewed,
muted, acknowledged or snoozed meanwhile, and posts in the notice's thread with sealed metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from jobs.deliver import SlackHealth
from jobs.outbox_send import Clock, OutboxReport, Post, drain, running_clock, seal
from jobs.pacing import ChannelPacer
from renewbot.blocks import followups as messages
from renewbot.blocks.ids import FOLLOWUP_EVENT_TYPE
from renewbot.domain import attention
from renewbot.domain.attention import DueFollowup, PostedNotice
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.metrics import NO_METRICS, Metrics
from storage import followups as reads
from storage import outbox
from storage.attention import is_muted
from storage.db import session_scope
from storage.models import Followup, Notice, NoticeState, Token
from storage.queries import CHUNK

logger = logging.getLogger(__name__)

KEY = ("token_id", "expires_at", "kind", "key")


def posted_view(notice: Notice) -> PostedNotice:
    return PostedNotice(stage=notice.stage, sent_at=notice.sent_at or notice.created_at,
                        thread_ts=notice.root_ts or notice.ts, acked=notice.acked_at is not None,
                        snoozed_until=notice.snoozed_until)


@dataclass(frozen=True)
class PlannedFollowup:
    token: Token
    due: DueFollowup
    channel: str


def reminder_days(now: datetime, tz: str) -> tuple[str, str]:
    """The keys a reminder due at `now` can have: today's and yesterday's local date (see reminder_slot)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today.isoformat(), (today - timedelta(days=1)).isoformat()


def _due_among(session, tokens: list[Token], *, now: datetime, settings: AttentionSettings,
               extra: dict[str, tuple[Token, list[PostedNotice]]]) -> list[PlannedFollowup]:
    out = []
    posted = reads.posted_for(session=session, tokens=tokens)
    tokens = [t for t in tokens if t.id in posted or t.id in extra]
    planned = reads.planned_keys(session=session, token_ids=[t.id for t in tokens],
                                 reminder_days=reminder_days(now, settings.reminder_tz))
    for token in tokens:
        notices = posted.get(token.id, [])
        views = [posted_view(n) for n in notices] + extra.get(token.id, (token, []))[1]
        # A thread's ts names a message only in its own channel.
        channels = {n.root_ts or n.ts: n.channel for n in notices}
        for due in attention.due_followups(
                expires_at=token.expires_at, muted=is_muted(token), notices=views, now=now,
                escalate_after=timedelta(hours=settings.escalate_after_hours),
                reminder_hour=settings.reminder_hour, reminder_tz=settings.reminder_tz):
            if (token.id, token.expires_at, due.kind, due.key) not in planned:
                out.append(PlannedFollowup(token, due, channels.get(due.thread_ts, token.channel)))
    return out


def due_pages(*, session, now: datetime, settings: AttentionSettings, chunk: int = CHUNK,
              extra: dict[str, tuple[Token, list[PostedNotice]]] | None = None) -> Iterator[list[PlannedFollowup]]:
    """Follow-ups due at `now` and not planned yet, a page of at most `chunk` tokens at a time. `extra` (a dry
    run) adds notices as if posted meanwhile, by token id, so that `scan --dry-run --now` shows what the same
    pass would post after its notices; a token it names that is not near its expiry yet is left out."""
    extra = extra or {}
    after = None
    while True:
        tokens = reads.followup_candidates(session=session, now=now, after=after, limit=chunk)
        if not tokens:
            return
        after = (tokens[-1].expires_at, tokens[-1].id)
        yield _due_among(session, tokens, now=now, settings=settings, extra=extra)


def due_followups(*, session, now: datetime, settings: AttentionSettings,
                  extra: dict[str, tuple[Token, list[PostedNotice]]] | None = None) -> list[PlannedFollowup]:
    """Every follow-up due at `now` (for a dry run's listing; planning goes page by page)."""
    return [item for page in due_pages(session=session, now=now, settings=settings, extra=extra) for item in page]


@dataclass(frozen=True)
class PlanReport:
    planned: int
    unposted: int  # expired tokens whose expired notice Slack refused: no thread to remind in


def plan_followups(*, engine: Engine, now: datetime, settings: AttentionSettings,
                   metrics: Metrics = NO_METRICS, chunk: int = CHUNK) -> PlanReport:
    """Records the due follow-ups as pending, a transaction per page of `chunk` tokens. Safe to run twice or
    concurrently: the unique key decides."""
    planned = 0
    after = None
    while True:
        with session_scope(engine) as session:
            tokens = reads.followup_candidates(session=session, now=now, after=after, limit=chunk)
            if not tokens:
                break
            after = (tokens[-1].expires_at, tokens[-1].id)
            for item in _due_among(session, tokens, now=now, settings=settings, extra={}):
                row = outbox.insert_if_absent(Followup, session=session, key=KEY, values=dict(
                    token_id=item.token.id, expires_at=item.token.expires_at, kind=item.due.kind, key=item.due.key,
                    state=NoticeState.PENDING, channel=item.channel, thread_ts=item.due.thread_ts,
                    due_at=item.due.due_at, attempts=0, created_at=now))
                if row is not None:
                    planned += 1
                    metrics.followup(item.due.kind, "planned")
    with session_scope(engine, commit=False) as session:
        unposted = reads.unposted_expired(session=session)
    if unposted:
        logger.warning("%d expired token(s) get no reminders: their expired notice was never posted "
                       "(`renewbot status`, then `renewbot retry-failed`)", unposted)
    return PlanReport(planned, unposted)


def followup_text(row: Followup, token: Token, settings: AttentionSettings, now: datetime) -> tuple[str, list[dict]]:
    if row.kind == attention.ESCALATION:
        return messages.escalation_message(token.name, token.expires_at, token.owners,
                                           settings.escalate_after_hours, now)
    if row.kind == attention.EXPIRY:
        return messages.expiry_message(token.name, token.expires_at, token.escalate_to, token.owners)
    return messages.reminder_message(token.name, token.expires_at, now)


def deliver_followups(*, engine: Engine, client: WebClient, settings: AttentionSettings, now: datetime | None = None,
                      clock: Clock | None = None, pacer: ChannelPacer | None = None,
                      health: SlackHealth | None = None, metrics: Metrics = NO_METRICS) -> OutboxReport:
    """Posts claimable follow-ups in their notices' threads (a bounded pass), paced per channel; nothing while
    Slack refuses the bot token. `clock` tells the time at each claim; a fixed `now` runs on from there."""
    report = OutboxReport()

    def prepare(row_id: int, at: datetime, fence: datetime) -> Post | None:
        with session_scope(engine) as session:
            row = session.get(Followup, row_id)
            token = session.get(Token, row.token_id) if row else None
            if row is None or token is None:
                return None
            notices = [n for n in reads.notices_for(session=session, token_id=token.id, expires_at=row.expires_at)
                       if n.state in NoticeState.open()]
            held = attention.hold(kind=row.kind, key=row.key, planned_expiry=row.expires_at,
                                  expires_at=token.expires_at, retired=token.retired, muted=is_muted(token),
                                  notices=[posted_view(n) for n in notices], now=at)
            if held is not None and held.until is not None:
                outbox.release(Followup, session=session, row_id=row_id, fence=fence, next_attempt_at=held.until)
                return None
            if held is not None:
                outbox.close(Followup, session=session, row_id=row_id, fence=fence, reason=held.reason)
                report.closed.append(row_id)
                metrics.followup(row.kind, "closed")
                logger.info("follow-up %s (%s %s of %s) not sent: %s", row_id, row.kind, row.key, token.id,
                            held.reason)
                return None
        text, blocks = followup_text(row, token, settings, at)
        metadata = messages.followup_metadata(row_id, token.id, row.kind, row.key, seal(client, "followup", row_id))
        # The escalation at expiry is shown in the channel too: a thread reply's <!channel> reaches only the
        # thread's followers.
        return Post(row_id, row.attempts, row.channel, row.thread_ts, text, blocks, metadata, FOLLOWUP_EVENT_TYPE,
                    "followup_id", row.kind, broadcast=row.kind == attention.EXPIRY)

    return drain(Followup, prepare, engine=engine, client=client, clock=clock or running_clock(now),
                 pacer=pacer or ChannelPacer(),
                 health=health or SlackHealth(), report=report, metrics=metrics)
