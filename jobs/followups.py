"""Follow-ups: escalations, the escalation at expiry and reminders after expiry, planned then delivered.

Planning inserts one Followup row per (token, expiry, kind, key) when it comes due: two replicas planning at
once make one row, a restart makes none. Every scan reads only the tokens whose expiry is within
EXPIRY_LOOKBACK before now to ESCALATE_WITHIN_DAYS after (ix_token_expires_at): escalations and the escalation
at expiry concern no others. Reminders fall due once a local day, at REMINDER_HOUR, so the pass over every
expired token runs once per local day, at the first scan after that hour (or, after downtime, at the next
one), and a `Once` mark written after it completes makes the day's later scans skip it: a crash midway
leaves no mark and the next scan runs it again (its inserts are idempotent, so two replicas running it
together are harmless too). Either pass reads in keyset pages of `chunk`, a transaction per page, so its
cost and its IN lists stay bounded.

What the daily pass alone notices, a day late at most: a reminder for a token unmuted after that day's
pass, and the escalation at expiry of a token whose expired notice is first posted more than EXPIRY_LOOKBACK
after its expiry (imported long expired, or posted by `renewbot retry-failed`).

Delivery (jobs/outbox_send) claims rows with a lease, re-checks here that nobody renewed, muted,
acknowledged or snoozed meanwhile, and posts in the notice's thread with sealed metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
from storage import once, outbox
from storage.attention import is_muted
from storage.db import session_scope
from storage.models import Followup, Notice, NoticeState, Token
from storage.queries import CHUNK

logger = logging.getLogger(__name__)

def posted_view(notice: Notice) -> PostedNotice:
    return PostedNotice(stage=notice.stage, sent_at=notice.sent_at or notice.created_at,
                        thread_ts=notice.root_ts or notice.ts, acked=notice.acked_at is not None,
                        snoozed_until=notice.snoozed_until)


@dataclass(frozen=True)
class PlannedFollowup:
    token: Token
    due: DueFollowup
    channel: str


REMINDERS_PLANNED_FOR = timedelta(days=8)  # how long a day's mark is kept: past the day after it


def _pass_key(day: date) -> str:
    return f"reminders-planned:{day.isoformat()}"


@dataclass(frozen=True)
class Window:
    """The expiries a pass reads: `since` None for the daily pass over every expired token."""
    since: datetime | None
    until: datetime
    mark: str | None  # the `Once` key to write once the pass completed (the daily pass)


def window(*, session, now: datetime, settings: AttentionSettings) -> Window:
    """The daily pass while its mark for the latest reminder day is missing, else the near one."""
    until = now + timedelta(days=attention.ESCALATE_WITHIN_DAYS)
    key = _pass_key(attention.reminder_day(now, settings.reminder_hour, settings.reminder_tz))
    if reads.pass_done(session=session, key=key):
        return Window(now - attention.EXPIRY_LOOKBACK, until, None)
    return Window(None, until, key)


def _due_among(session, tokens: list[Token], *, now: datetime, settings: AttentionSettings,
               extra: dict[str, tuple[Token, list[PostedNotice]]]) -> list[PlannedFollowup]:
    posted = reads.posted_for(session=session, tokens=tokens)
    due: list[PlannedFollowup] = []
    for token in tokens:
        if token.id not in posted and token.id not in extra:
            continue
        notices = posted.get(token.id, [])
        views = [posted_view(n) for n in notices] + extra.get(token.id, (token, []))[1]
        # A thread's ts names a message only in its own channel.
        channels = {n.root_ts or n.ts: n.channel for n in notices}
        due += [PlannedFollowup(token, item, channels.get(item.thread_ts, token.channel))
                for item in attention.due_followups(
                    expires_at=token.expires_at, muted=is_muted(token), notices=views, now=now,
                    escalate_after=timedelta(hours=settings.escalate_after_hours),
                    reminder_hour=settings.reminder_hour, reminder_tz=settings.reminder_tz)]
    if not due:
        return []
    # Only the keys due now are looked up: one reminder day or two a token, never its years of sent ones.
    planned = reads.planned_keys(session=session, token_ids=sorted({p.token.id for p in due}),
                                 reminder_keys={p.due.key for p in due if p.due.kind == attention.REMINDER})
    return [p for p in due if (p.token.id, p.token.expires_at, p.due.kind, p.due.key) not in planned]


def _pages(session, span: Window, chunk: int) -> Iterator[list[Token]]:
    after = None
    while tokens := reads.followup_candidates(session=session, since=span.since, until=span.until, after=after,
                                              limit=chunk):
        yield tokens
        after = (tokens[-1].expires_at, tokens[-1].id)


def due_pages(*, session, now: datetime, settings: AttentionSettings, chunk: int = CHUNK,
              extra: dict[str, tuple[Token, list[PostedNotice]]] | None = None) -> Iterator[list[PlannedFollowup]]:
    """Follow-ups a scan at `now` would plan, a page of at most `chunk` tokens at a time: the daily pass's if
    its mark is missing, else the near one's (reading the mark, never writing it). `extra` (a dry run) adds
    notices as if posted meanwhile, by token id, so that `scan --dry-run --now` shows what the same pass would
    post after its notices; a token it names outside the pass's window is left out, as the scan would."""
    extra = extra or {}
    span = window(session=session, now=now, settings=settings)
    for tokens in _pages(session, span, chunk):
        yield _due_among(session, tokens, now=now, settings=settings, extra=extra)


def due_followups(*, session, now: datetime, settings: AttentionSettings,
                  extra: dict[str, tuple[Token, list[PostedNotice]]] | None = None) -> list[PlannedFollowup]:
    """Every follow-up due at `now` (for a dry run's listing; planning goes page by page)."""
    return [item for page in due_pages(session=session, now=now, settings=settings, extra=extra) for item in page]


@dataclass(frozen=True)
class PlanReport:
    planned: int
    unposted: int  # expired tokens whose expired notice Slack refused: no thread to remind in
    daily: bool = False  # whether this was the day's full pass over every expired token


def plan_followups(*, engine: Engine, now: datetime, settings: AttentionSettings,
                   metrics: Metrics = NO_METRICS, chunk: int = CHUNK) -> PlanReport:
    """Records the due follow-ups as pending, a transaction per page of `chunk` tokens. Safe to run twice or
    concurrently: the unique key decides."""
    with session_scope(engine, commit=False) as session:
        span = window(session=session, now=now, settings=settings)
    planned = 0
    after = None
    while True:
        with session_scope(engine) as session:
            tokens = reads.followup_candidates(session=session, since=span.since, until=span.until, after=after,
                                               limit=chunk)
            if not tokens:
                break
            after = (tokens[-1].expires_at, tokens[-1].id)
            kinds = reads.insert_planned(session=session, rows=[dict(
                token_id=item.token.id, expires_at=item.token.expires_at, kind=item.due.kind, key=item.due.key,
                state=NoticeState.PENDING, channel=item.channel, thread_ts=item.due.thread_ts,
                due_at=item.due.due_at, attempts=0, created_at=now)
                for item in _due_among(session, tokens, now=now, settings=settings, extra={})])
            planned += len(kinds)
            for kind in kinds:
                metrics.followup(kind, "planned")
    with session_scope(engine) as session:
        if span.mark is not None:  # only now that every page is committed: a crash before reruns the pass
            once.claim(session=session, key=span.mark, expires_at=now + REMINDERS_PLANNED_FOR)
        unposted = reads.unposted_expired(session=session)
    if unposted:
        logger.warning("%d expired token(s) get no reminders: their expired notice was never posted "
                       "(`renewbot status`, then `renewbot retry-failed`)", unposted)
    return PlanReport(planned, unposted, span.mark is not None)


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
