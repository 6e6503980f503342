"""Sending from a leased outbox (storage/outbox.py): claim a few rows, post each, record the outcome.

Shared by follow-ups and digests; posting (`post_joining`) and Retry-After (`rate_limit_wait`) are jobs/deliver.py's.
jobs/deliver.py still has its own error-code reading (it keeps a 5xx's JSON error) and sealed-history lookup for
notices; those, and storage/notices.py onto storage/outbox.py, should become one outbox rather than grow a copy.

Two rules keep one post per row across replicas:
- every lease and stamp comes from `clock()` at the moment it is written, never from a `now` taken before a
  long pass (a lease computed from a stale time has already run out when it is granted);
- nothing sleeps on a claimed row for long: a channel held back past HOLD_LIMIT gives the row back, and a
  post that may have reached Slack (5xx, a dropped connection) is not re-sent blindly by the HTTP client but
  rescheduled, so the retry looks for the sealed message first.
"""

from __future__ import annotations

import copy
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
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy.engine import Engine

from jobs.deliver import HOLD_LIMIT, PERMANENT_ERRORS, SlackHealth, post_joining, rate_limit_wait
from jobs.pacing import ChannelPacer, backoff
from renewbot.runtime.metrics import NO_METRICS, Metrics
from renewbot.usecases.failures import TOKEN_REFUSED
from storage import outbox
from storage.db import session_scope

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
CLAIM_AHEAD = 5  # a few seconds of posts at a channel's pace: well inside LEASE
# One pass stops after this many rows or this long; the rest waits for the next pass (every minute). It also
# keeps the pass's `exclude` list of tried ids far below the databases' bound-parameter limits.
MAX_ROWS = 200
MAX_PASS = timedelta(seconds=60)
# A history search reads at most this many pages of 200 messages.
HISTORY_PAGES = 10

Clock = Callable[[], datetime]


def running_clock(now: datetime) -> Clock:
    """`now`, moving on with the real seconds spent from this call: for a pass given a fixed time (`scan --now`,
    tests), so leases and stamps still advance with pacing."""
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


def without_server_retries(client: WebClient) -> WebClient:
    """A copy of `client` that retries only rate limits. A 5xx or a reset connection after Slack accepted a post
    must not be re-sent by the HTTP client: the outbox reschedules it and its retry looks for it first."""
    quiet = copy.copy(client)
    quiet.retry_handlers = [h for h in client.retry_handlers if isinstance(h, RateLimitErrorRetryHandler)]
    return quiet


def error_code(exc: SlackApiError) -> str:
    """Slack's error code ("channel_not_found", ...), or "http <status>" for a 5xx or an answer that is not
    Slack's JSON (slack_sdk then makes up an "error" out of the body)."""
    status = exc.response.status_code
    if status >= 500 or not isinstance(exc.response.data, dict):
        return f"http {status}"
    return str(exc.response.get("error") or f"http {status}")


@dataclass
class OutboxReport:
    sent: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # not sent: renewed, muted, acknowledged, nothing to say
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    refused: str | None = None  # Slack refused the bot token: the pass stopped


def seal(client: WebClient, what: str, row_id: int) -> str:
    """An HMAC under the bot token: anyone can post metadata naming a row, so a retry adopts a message only when
    it carries this, which only the holder of the bot token can make."""
    return hmac.new((client.token or "").encode(), f"renewbot-{what}:{row_id}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def _pages(client: WebClient, *, channel: str, thread_ts: str | None):
    cursor = None
    for _ in range(HISTORY_PAGES):
        args = dict(channel=channel, include_all_metadata=True, limit=200, **({"cursor": cursor} if cursor else {}))
        resp = (client.conversations_history(**args) if thread_ts is None
                else client.conversations_replies(ts=thread_ts, **args))
        yield resp.get("messages") or []
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return
    logger.warning("%s: searched %d pages of history without reaching the end", channel, HISTORY_PAGES)


def find_sealed(client: WebClient, *, channel: str, thread_ts: str | None, event_type: str, id_field: str,
                row_id: int, sealed: str) -> str | None:
    """The ts of our message carrying this row's sealed metadata, from the thread (or channel) history, page by
    page: a thread lists oldest first, so a long one's newest replies are past the first page. Without the
    history scope we cannot look: posting again beats never posting."""
    try:
        for messages in _pages(client, channel=channel, thread_ts=thread_ts):
            for message in messages:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (meta.get("event_type") == event_type and payload.get(id_field) == row_id
                        and isinstance(payload.get("seal"), str) and hmac.compare_digest(payload["seal"], sealed)):
                    return message["ts"]
    except SlackApiError as exc:
        if error_code(exc) != "missing_scope":
            raise
        logger.warning("cannot read %s history (missing_scope): a message may be posted twice", channel)
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
    broadcast: bool = False  # a thread reply shown in the channel too (its <!channel> reaches everyone)
    fence: datetime | None = None  # the claim's lease end (drain sets it): outcomes are written only while ours


def send(model, post: Post, *, engine: Engine, client: WebClient, pacer: ChannelPacer, health: SlackHealth,
         report: OutboxReport, clock: Clock, metrics: Metrics = NO_METRICS) -> str:
    """Posts a claimed row (or adopts the message an earlier attempt left) and records the outcome:
    "sent", "held", "retrying", "failed" or "refused". `client` should be `without_server_retries`."""
    try:
        ts = None
        if post.attempts > 1:  # an earlier attempt may have reached Slack before its process died
            ts = find_sealed(client, channel=post.channel, thread_ts=post.thread_ts, event_type=post.event_type,
                             id_field=post.id_field, row_id=post.row_id, sealed=post.metadata["event_payload"]["seal"])
            if ts is not None:
                logger.info("%s %s was already posted as %s; adopting it", model.__name__, post.row_id, ts)
        if ts is None:
            wait = pacer.ready_in(post.channel)
            if wait > HOLD_LIMIT.total_seconds():
                # Rate-limited for long: give the row back rather than sleep past its lease.
                with session_scope(engine) as session:
                    outbox.release(model, session=session, row_id=post.row_id, fence=post.fence,
                                   next_attempt_at=clock() + timedelta(seconds=wait))
                report.retrying.append(post.row_id)
                return "held"
            pacer.wait(post.channel)
            thread = {} if post.thread_ts is None else {"thread_ts": post.thread_ts,
                                                        "reply_broadcast": post.broadcast}
            ts = post_joining(client, channel=post.channel, text=post.text, blocks=post.blocks,
                              metadata=post.metadata, unfurl_links=False, **thread)["ts"]
    except SlackApiError as exc:
        return _record_refusal(model, post, exc, engine=engine, health=health, pacer=pacer, report=report,
                               at=clock(), metrics=metrics)
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("%s %s: Slack unreachable (%s); will retry", model.__name__, post.row_id, type(exc).__name__)
        with session_scope(engine) as session:
            outbox.reschedule(model, session=session, row_id=post.row_id, fence=post.fence,
                              next_attempt_at=clock() + backoff(post.attempts),
                              error=f"connection error: {type(exc).__name__}")
        report.retrying.append(post.row_id)
        return "retrying"
    with session_scope(engine) as session:
        recorded = outbox.record_sent(model, session=session, row_id=post.row_id, fence=post.fence, ts=ts,
                                      sent_at=clock())
    if not recorded:
        logger.warning("%s %s was posted as %s after its lease ran out", model.__name__, post.row_id, ts)
    report.sent.append(post.row_id)
    metrics.followup(post.label, "sent")
    return "sent"


def _record_refusal(model, post: Post, exc: SlackApiError, *, engine: Engine, health: SlackHealth,
                    pacer: ChannelPacer, report: OutboxReport, at: datetime, metrics: Metrics) -> str:
    error = error_code(exc)
    with session_scope(engine) as session:
        if error in TOKEN_REFUSED:
            outbox.release(model, session=session, row_id=post.row_id, fence=post.fence, next_attempt_at=at)
            health.refuse(error)
            return "refused"
        if exc.response.status_code == 429:
            wait = rate_limit_wait(exc.response.headers)
            pacer.back_off(post.channel, wait)
            outbox.reschedule(model, session=session, row_id=post.row_id, fence=post.fence, error="ratelimited",
                              next_attempt_at=at + timedelta(seconds=wait))
        elif error in PERMANENT_ERRORS:
            logger.error("%s %s failed: %s", model.__name__, post.row_id, error)
            outbox.record_failed(model, session=session, row_id=post.row_id, fence=post.fence, error=error)
            report.failed.append(post.row_id)
            metrics.followup(post.label, "failed")
            return "failed"
        else:
            logger.warning("%s %s: Slack answered %s; will retry", model.__name__, post.row_id, error)
            outbox.reschedule(model, session=session, row_id=post.row_id, fence=post.fence, error=error,
                              next_attempt_at=at + backoff(post.attempts))
    report.retrying.append(post.row_id)
    return "retrying"


def drain(model, prepare: Callable[[int, datetime, datetime], Post | None], *, engine: Engine, client: WebClient,
          clock: Clock, pacer: ChannelPacer, health: SlackHealth, report: OutboxReport, where=None,
          metrics: Metrics = NO_METRICS, max_rows: int = MAX_ROWS, max_pass: timedelta = MAX_PASS) -> OutboxReport:
    """Claims and sends `model` rows a few at a time until none is left, or `max_rows` were tried, or
    `max_pass` has gone by; each row is tried once per pass. `prepare(row_id, at, fence)` re-checks a claimed
    row and builds its post, or settles it (closed, released, under `fence`) and returns None."""
    if not health.usable(client):
        report.refused = health.refused
        return report
    client = without_server_retries(client)
    deadline = time.monotonic() + max_pass.total_seconds()
    tried: set[int] = set()
    while len(tried) < max_rows and time.monotonic() < deadline:
        claimed_at = clock()  # the lease starts now, not when the pass began
        fence = claimed_at + LEASE
        with session_scope(engine) as session:
            claimed = outbox.claim_due(model, session=session, now=claimed_at, lease=LEASE,
                                       limit=min(CLAIM_AHEAD, max_rows - len(tried)), exclude=tried, where=where)
        if not claimed:
            return report
        tried.update(claimed)
        for i, row_id in enumerate(claimed):
            try:
                post = prepare(row_id, clock(), fence)
                if post is not None:
                    post.fence = fence
                outcome = "settled" if post is None else send(model, post, engine=engine, client=client,
                                                                pacer=pacer, health=health, report=report,
                                                                clock=clock, metrics=metrics)
            except Exception:
                # Left in "sending": its lease runs out and a later pass picks it up (and looks for it first).
                logger.exception("%s %s: delivery failed unexpectedly", model.__name__, row_id)
                continue
            if outcome == "refused":
                with session_scope(engine) as session:
                    for rest in claimed[i + 1:]:
                        outbox.release(model, session=session, row_id=rest, fence=fence, next_attempt_at=clock())
                report.refused = health.refused
                return report
    return report
