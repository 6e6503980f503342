"""Delivery: claim planned notices, post them to Slack, record the outcome.

The database is the record of what was sent. A notice is claimed with a
lease before posting, so two scans never post the same one; a failed post
goes back to pending with a backoff and is retried, never dropped.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from jobs.pacing import ChannelPacer
from renewbot.blocks.ids import NOTICE_EVENT_TYPE
from renewbot.blocks.notice import notice_blocks, notice_metadata, notice_text
from renewbot.domain.thresholds import EXPIRED
from renewbot.runtime.slack_client import retry_after_seconds
from storage import notices, queries
from storage.db import session_scope
from storage.models import Notice

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=15)
# Retrying these cannot help: a person has to fix the channel or the token.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
    "token_revoked", "not_authed", "missing_scope", "restricted_action", "msg_too_long", "invalid_blocks",
})


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential with full jitter, so replicas that failed together don't retry together."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=(rng or random).uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))


def deliver_due(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
                limit: int = 50, max_workers: int = 8) -> DeliveryReport:
    """Posts everything claimable, channel by channel in parallel, each channel paced.

    Claims go in rounds of `limit` so a lease never outlives the work it covers.
    A round in which nothing got through ends the pass: what failed waits for
    its retry time, not a busy loop.
    """
    pacer = pacer or ChannelPacer()
    report = DeliveryReport()
    started = time.monotonic()
    # Worded as of the scan's `now`: the moment its plan chose each notice's stage.
    worded_at = now
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="deliver") as pool:
        while True:
            # Leases, retry times and stamps move on with the real time spent: pacing takes real seconds.
            recorded_at = now + timedelta(seconds=time.monotonic() - started)
            with session_scope(engine) as session:
                claimed = notices.claim_due_notices(session=session, now=recorded_at, lease=LEASE, limit=limit)
            if not claimed:
                return report
            by_channel: dict[str, list[int]] = defaultdict(list)
            for notice_id, channel in claimed:
                by_channel[channel].append(notice_id)
            sent_before = len(report.sent) + len(report.dropped)
            work = [pool.submit(_deliver_channel, engine, client, notice_ids, recorded_at, worded_at, pacer, report)
                    for notice_ids in by_channel.values()]
            for future in work:
                future.result()
            if len(report.sent) + len(report.dropped) == sent_before:
                return report


def _deliver_channel(engine: Engine, client: WebClient, notice_ids: list[int], recorded_at: datetime,
                     worded_at: datetime, pacer: ChannelPacer, report: DeliveryReport) -> None:
    for notice_id in notice_ids:
        try:
            _deliver_one(engine=engine, client=client, notice_id=notice_id, recorded_at=recorded_at,
                         worded_at=worded_at, report=report, pacer=pacer)
        except Exception:
            # Left in "sending": its lease runs out and a later pass picks it up (and checks history first).
            logger.exception("notice %s: delivery failed unexpectedly", notice_id)


def _deliver_one(*, engine: Engine, client: WebClient, notice_id: int, recorded_at: datetime, worded_at: datetime,
                 report: DeliveryReport, pacer: ChannelPacer) -> None:
    with session_scope(engine) as session:
        notice = session.get(Notice, notice_id)
        token = queries.get_token(session=session, token_id=notice.token_id) if notice else None
        if notice is None or token is None or token.expires_at != notice.expires_at:
            # Renewed or re-imported since planning: the notice is about an expiry that no longer holds.
            notices.supersede(session=session, notice_id=notice_id, closed_at=recorded_at)
            report.dropped.append(notice_id)
            return
        accounts = queries.token_accounts(session=session, token_id=token.id)
        root = notices.root_ts(session=session, token_id=token.id, expires_at=token.expires_at)
        attempts = notice.attempts
    blocks = notice_blocks(token, accounts, notice.stage, worded_at)
    text = notice_text(token, notice.stage, worded_at)
    try:
        # An earlier attempt may have reached Slack before its process died or its reply was lost.
        ts = _already_posted(client, notice.channel, notice_id, root) if attempts > 1 else None
        if ts is not None:
            logger.info("notice %s was already posted as %s; adopting it, not posting again", notice_id, ts)
        else:
            pacer.wait(notice.channel)
            # Later stages reply in the first notice's thread; an expiry is shown in the channel as well.
            thread = {} if root is None else {"thread_ts": root, "reply_broadcast": notice.stage == EXPIRED}
            resp = client.chat_postMessage(channel=notice.channel, text=text, blocks=blocks,
                                           metadata=notice_metadata(notice_id, token, notice.stage),
                                           unfurl_links=False, **thread)
            ts = resp["ts"]
            if root is not None:
                _update_root(client, notice.channel, root, text, blocks)
    except SlackApiError as exc:
        if exc.response.status_code == 429:
            pacer.back_off(notice.channel, _rate_limit_wait(exc.response.headers))
        _record_failure(engine, notice_id, recorded_at, attempts, exc, report)
        return
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("notice %s: Slack unreachable (%s); will retry", notice_id, type(exc).__name__)
        _retry_later(engine, notice_id, recorded_at + backoff(attempts), f"connection error: {type(exc).__name__}")
        report.retrying.append(notice_id)
        return
    with session_scope(engine) as session:
        notices.record_sent(session=session, notice_id=notice_id, ts=ts, root_ts=root or ts, sent_at=recorded_at)
    report.sent.append(notice_id)
    logger.info("notice %s posted for token %s (%s)", notice_id, token.id, notice.stage)


def find_posted(client: WebClient, channel: str, notice_id: int, root: str | None) -> str | None:
    """The ts of a message carrying this notice's metadata, from the channel (or thread) history."""
    if root is None:
        resp = client.conversations_history(channel=channel, include_all_metadata=True, limit=200)
    else:
        resp = client.conversations_replies(channel=channel, ts=root, include_all_metadata=True, limit=200)
    for message in resp.get("messages") or []:
        meta = message.get("metadata") or {}
        if (meta.get("event_type") == NOTICE_EVENT_TYPE
                and (meta.get("event_payload") or {}).get("notice_id") == notice_id):
            return message["ts"]
    return None


def _already_posted(client: WebClient, channel: str, notice_id: int, root: str | None) -> str | None:
    try:
        return find_posted(client, channel, notice_id, root)
    except SlackApiError as exc:
        if exc.response.get("error") != "missing_scope":
            raise
        # Without channels:history we cannot check; posting again beats never posting.
        logger.warning("cannot read %s history (missing_scope): notice %s may be posted twice", channel, notice_id)
        return None


def _update_root(client: WebClient, channel: str, root: str, text: str, blocks: list[dict]) -> None:
    # The thread reply is what matters; a root we cannot edit is logged, not retried.
    try:
        client.chat_update(channel=channel, ts=root, text=text, blocks=blocks)
    except (SlackApiError, URLError, OSError):
        logger.exception("could not edit notice %s in %s in place", root, channel)


def _record_failure(engine: Engine, notice_id: int, recorded_at: datetime, attempts: int, exc: SlackApiError,
                    report: DeliveryReport) -> None:
    status = exc.response.status_code
    answered = isinstance(exc.response.data, dict)
    error = str(exc.response.get("error") or f"http {status}") if answered else f"http {status}"
    if status == 429:
        wait = _rate_limit_wait(exc.response.headers)
        logger.warning("notice %s: rate limited, retrying in %ss", notice_id, wait)
        _retry_later(engine, notice_id, recorded_at + timedelta(seconds=wait), "ratelimited")
        report.retrying.append(notice_id)
    elif error in PERMANENT_ERRORS:
        logger.error("notice %s failed for good: %s", notice_id, error)
        with session_scope(engine) as session:
            notices.record_failed(session=session, notice_id=notice_id, error=error)
        report.failed.append(notice_id)
    else:
        logger.warning("notice %s: Slack answered %s; will retry", notice_id, error)
        _retry_later(engine, notice_id, recorded_at + backoff(attempts), error)
        report.retrying.append(notice_id)


def _rate_limit_wait(headers) -> int:
    """Seconds to hold off after a 429: Slack's Retry-After, at least one (one when it gives none)."""
    return max(1, retry_after_seconds(headers) or 1)


def _retry_later(engine: Engine, notice_id: int, when: datetime, reason: str) -> None:
    with session_scope(engine) as session:
        notices.reschedule(session=session, notice_id=notice_id, next_attempt_at=when, error=reason)
