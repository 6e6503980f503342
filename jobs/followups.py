"""Follow-ups: escalations, the escalation at expiry and reminders after expiry, planned then delivered.

Planning inserts one Followup row per (token, expiry, kind, key) when it comes due: two replicas planning at
once make one row, a restart makes none. Delivery claims rows with a lease, re-checks that nobody renewed,
muted, acknowledged or snoozed meanwhile, and posts in the notice's thread with sealed metadata: a retry of a
row that may already have reached Slack looks for that first (as jobs/deliver does for notices).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from jobs.deliver import PERMANENT_ERRORS, SlackHealth, _error_code, _post_joining, _rate_limit_wait
from jobs.pacing import ChannelPacer, backoff
from renewbot.blocks import followups as messages
from renewbot.blocks.ids import FOLLOWUP_EVENT_TYPE
from renewbot.domain import attention
from renewbot.domain.attention import DueFollowup, PostedNotice
from renewbot.runtime.config import AttentionSettings
from renewbot.runtime.metrics import NO_METRICS, Metrics
from renewbot.usecases.failures import TOKEN_REFUSED
from storage import followups as reads
from storage import outbox
from storage.attention import is_muted
from storage.db import session_scope
from storage.models import Followup, Notice, NoticeState, Token

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
CLAIM_AHEAD = 5  # a few seconds of posts at a channel's pace: well inside LEASE
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


def due_followups(*, session, now: datetime, settings: AttentionSettings,
                  extra: dict[str, tuple[Token, list[PostedNotice]]] | None = None) -> list[PlannedFollowup]:
    """Follow-ups due at `now` and not planned yet. `extra` (a dry run) adds notices as if posted meanwhile,
    by token id, so that `scan --dry-run --now` shows what the same pass would post after its notices."""
    out = []
    extra = extra or {}
    found = reads.posted_notices(session=session, now=now)
    found += [(token, []) for token_id, (token, _) in extra.items() if token_id not in {t.id for t, _ in found}]
    planned = reads.planned_keys(session=session, token_ids=[t.id for t, _ in found])
    for token, notices in found:
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


@dataclass(frozen=True)
class PlanReport:
    planned: int
    unposted: int  # expired tokens whose expired notice Slack refused: no thread to remind in


def plan_followups(*, engine: Engine, now: datetime, settings: AttentionSettings,
                   metrics: Metrics = NO_METRICS) -> PlanReport:
    """Records the due follow-ups as pending. Safe to run twice or concurrently: the unique key decides."""
    planned = 0
    with session_scope(engine) as session:
        for item in due_followups(session=session, now=now, settings=settings):
            row = outbox.insert_if_absent(Followup, session=session, key=KEY, values=dict(
                token_id=item.token.id, expires_at=item.token.expires_at, kind=item.due.kind, key=item.due.key,
                state=NoticeState.PENDING, channel=item.channel, thread_ts=item.due.thread_ts,
                due_at=item.due.due_at, attempts=0, created_at=now))
            if row is not None:
                planned += 1
                metrics.followup(item.due.kind, "planned")
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


# --- sending, shared with jobs/digest ---------------------------------------------


@dataclass
class OutboxReport:
    sent: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # not sent: renewed, muted, acknowledged, nothing to say
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    refused: str | None = None  # Slack refused the bot token: the pass stopped


def seal(client: WebClient, what: str, row_id: int) -> str:
    """An HMAC under the bot token: a retry adopts a message only when it carries this (see notice_seal)."""
    return hmac.new((client.token or "").encode(), f"renewbot-{what}:{row_id}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def find_sealed(client: WebClient, *, channel: str, thread_ts: str | None, event_type: str, id_field: str,
                row_id: int, sealed: str) -> str | None:
    """The ts of our message carrying this row's sealed metadata, from the thread (or channel) history. Without
    the history scope we cannot look: posting again beats never posting."""
    try:
        if thread_ts is None:
            resp = client.conversations_history(channel=channel, include_all_metadata=True, limit=200)
        else:
            resp = client.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True, limit=200)
    except SlackApiError as exc:
        if _error_code(exc) != "missing_scope":
            raise
        logger.warning("cannot read %s history (missing_scope): a follow-up may be posted twice", channel)
        return None
    for message in resp.get("messages") or []:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if (meta.get("event_type") == event_type and payload.get(id_field) == row_id
                and isinstance(payload.get("seal"), str) and hmac.compare_digest(payload["seal"], sealed)):
            return message["ts"]
    return None


@dataclass
class Post:
    """One claimed row, ready to go: where, what, and how to recognise it in the history."""
    row_id: int
    attempts: int
    channel: str
    thread_ts: str | None
    text: str
    blocks: list[dict]
    metadata: dict
    event_type: str
    id_field: str
    label: str  # the metrics' kind: "escalation", "expiry", "reminder", "digest"


def send(model, post: Post, *, engine: Engine, client: WebClient, pacer: ChannelPacer, health: SlackHealth,
         report: OutboxReport, at: datetime, metrics: Metrics = NO_METRICS) -> str:
    """Posts a claimed row (or adopts the message an earlier attempt left) and records the outcome:
    "sent", "retrying", "failed" or "refused"."""
    try:
        ts = None
        if post.attempts > 1:  # an earlier attempt may have reached Slack before its process died
            ts = find_sealed(client, channel=post.channel, thread_ts=post.thread_ts, event_type=post.event_type,
                             id_field=post.id_field, row_id=post.row_id, sealed=post.metadata["event_payload"]["seal"])
            if ts is not None:
                logger.info("%s %s was already posted as %s; adopting it", model.__name__, post.row_id, ts)
        if ts is None:
            pacer.wait(post.channel)
            thread = {} if post.thread_ts is None else {"thread_ts": post.thread_ts}
            ts = _post_joining(client, channel=post.channel, text=post.text, blocks=post.blocks,
                               metadata=post.metadata, unfurl_links=False, **thread)["ts"]
    except SlackApiError as exc:
        error = _error_code(exc)
        with session_scope(engine) as session:
            if error in TOKEN_REFUSED:
                outbox.release(model, session=session, row_id=post.row_id, next_attempt_at=at)
                health.refuse(error)
                return "refused"
            if exc.response.status_code == 429:
                wait = _rate_limit_wait(exc.response.headers)
                pacer.back_off(post.channel, wait)
                outbox.reschedule(model, session=session, row_id=post.row_id, error="ratelimited",
                                  next_attempt_at=at + timedelta(seconds=wait))
            elif error in PERMANENT_ERRORS:
                logger.error("%s %s failed: %s", model.__name__, post.row_id, error)
                outbox.record_failed(model, session=session, row_id=post.row_id, error=error)
                report.failed.append(post.row_id)
                metrics.followup(post.label, "failed")
                return "failed"
            else:
                outbox.reschedule(model, session=session, row_id=post.row_id, error=error,
                                  next_attempt_at=at + backoff(post.attempts))
        report.retrying.append(post.row_id)
        return "retrying"
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("%s %s: Slack unreachable (%s); will retry", model.__name__, post.row_id, type(exc).__name__)
        with session_scope(engine) as session:
            outbox.reschedule(model, session=session, row_id=post.row_id, next_attempt_at=at + backoff(post.attempts),
                              error=f"connection error: {type(exc).__name__}")
        report.retrying.append(post.row_id)
        return "retrying"
    with session_scope(engine) as session:
        outbox.record_sent(model, session=session, row_id=post.row_id, ts=ts, sent_at=at)
    report.sent.append(post.row_id)
    metrics.followup(post.label, "sent")
    return "sent"


def drain(model, prepare: Callable[[int, datetime], Post | None], *, engine: Engine, client: WebClient,
          now: datetime, pacer: ChannelPacer, health: SlackHealth, report: OutboxReport, where=None,
          metrics: Metrics = NO_METRICS) -> OutboxReport:
    """Claims and sends `model` rows a few at a time until none is left; each row is tried once per pass.
    `prepare` re-checks a claimed row and builds its post, or settles it (closed, released) and returns None."""
    if not health.usable(client):
        report.refused = health.refused
        return report
    started = time.monotonic()

    def clock() -> datetime:  # pacing takes real seconds: leases and stamps move on with them
        return now + timedelta(seconds=time.monotonic() - started)

    tried: set[int] = set()
    while True:
        with session_scope(engine) as session:
            claimed = outbox.claim_due(model, session=session, now=clock(), lease=LEASE, limit=CLAIM_AHEAD,
                                       exclude=tried, where=where)
        if not claimed:
            return report
        tried.update(claimed)
        for i, row_id in enumerate(claimed):
            try:
                post = prepare(row_id, clock())
                outcome = "settled" if post is None else send(model, post, engine=engine, client=client,
                                                                pacer=pacer, health=health, report=report, at=clock(),
                                                                metrics=metrics)
            except Exception:
                # Left in "sending": its lease runs out and a later pass picks it up (and looks for it first).
                logger.exception("%s %s: delivery failed unexpectedly", model.__name__, row_id)
                continue
            if outcome == "refused":
                with session_scope(engine) as session:
                    for rest in claimed[i + 1:]:
                        outbox.release(model, session=session, row_id=rest, next_attempt_at=clock())
                report.refused = health.refused
                return report


def deliver_followups(*, engine: Engine, client: WebClient, now: datetime, settings: AttentionSettings,
                      pacer: ChannelPacer | None = None, health: SlackHealth | None = None,
                      metrics: Metrics = NO_METRICS) -> OutboxReport:
    """Posts every claimable follow-up in its notice's thread, paced per channel; nothing while Slack refuses
    the bot token."""
    report = OutboxReport()

    def prepare(row_id: int, at: datetime) -> Post | None:
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
                outbox.release(Followup, session=session, row_id=row_id, next_attempt_at=held.until)
                return None
            if held is not None:
                outbox.close(Followup, session=session, row_id=row_id, reason=held.reason)
                report.closed.append(row_id)
                metrics.followup(row.kind, "closed")
                logger.info("follow-up %s (%s %s of %s) not sent: %s", row_id, row.kind, row.key, token.id,
                            held.reason)
                return None
        text, blocks = followup_text(row, token, settings, at)
        metadata = messages.followup_metadata(row_id, token.id, row.kind, row.key, seal(client, "followup", row_id))
        return Post(row_id, row.attempts, row.channel, row.thread_ts, text, blocks, metadata, FOLLOWUP_EVENT_TYPE,
                    "followup_id", row.kind)

    return drain(Followup, prepare, engine=engine, client=client, now=now, pacer=pacer or ChannelPacer(),
                 health=health or SlackHealth(), report=report, metrics=metrics)
