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

from blocks.notice import notice_blocks, notice_metadata, notice_text
from storage import queries
from storage.db import session_scope
from storage.models import Notice
from ids import NOTICE_EVENT_TYPE
from jobs.pacing import ChannelPacer
from thresholds import EXPIRED

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
    Leases and retry times move on with the real time spent (pacing takes real
    seconds); messages are worded as of `now`. A round in which nothing got
    through ends the pass: what failed waits for its retry time, not a busy loop.
    """
    pacer = pacer or ChannelPacer()
    report = DeliveryReport()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="deliver") as pool:
        while True:
            round_now = now + timedelta(seconds=time.monotonic() - started)
            with session_scope(engine) as session:
                claimed = queries.claim_due_notices(session=session, now=round_now, lease=LEASE, limit=limit)
            if not claimed:
                return report
            by_channel: dict[str, list[int]] = defaultdict(list)
            for notice_id, channel in claimed:
                by_channel[channel].append(notice_id)
            sent_before = len(report.sent) + len(report.dropped)
            work = [pool.submit(_deliver_channel, engine, client, ids, round_now, now, pacer, report)
                    for ids in by_channel.values()]
            for future in work:
                future.result()
            if len(report.sent) + len(report.dropped) == sent_before:
                return report


def _deliver_channel(engine: Engine, client: WebClient, notice_ids: list[int], now: datetime, as_of: datetime,
                     pacer: ChannelPacer, report: DeliveryReport) -> None:
    for notice_id in notice_ids:
        try:
            _deliver_one(engine=engine, client=client, notice_id=notice_id, now=now, as_of=as_of, report=report,
                         pacer=pacer)
        except Exception:
            # Left in "sending": its lease runs out and a later pass picks it up (and checks history first).
            logger.exception("notice %s: delivery failed unexpectedly", notice_id)


def _deliver_one(*, engine: Engine, client: WebClient, notice_id: int, now: datetime, as_of: datetime,
                 report: DeliveryReport, pacer: ChannelPacer) -> None:
    with session_scope(engine) as session:
        notice = session.get(Notice, notice_id)
        token = queries.get_token(session=session, token_id=notice.token_id) if notice else None
        if notice is None or token is None or token.expires_at != notice.expires_at:
            # Renewed or re-imported since planning: the notice is about an expiry that no longer holds.
            queries.finish_notice(session=session, notice_id=notice_id, state="superseded", closed_at=now)
            report.dropped.append(notice_id)
            return
        accounts = queries.token_accounts(session=session, token_id=token.id)
        root = queries.root_ts(session=session, token_id=token.id, expires_at=token.expires_at)
        attempts = notice.attempts
    blocks = notice_blocks(token, accounts, notice.stage, as_of)
    text = notice_text(token, notice.stage, as_of)
    try:
        # An earlier attempt may have reached Slack before its process died or its reply was lost.
        found = _already_posted(client, notice.channel, notice_id, root) if attempts > 1 else None
        if found is not None:
            logger.info("notice %s was already posted as %s; adopting it, not posting again", notice_id, found)
            outcome = dict(state="sent", ts=found, root_ts=root or found, sent_at=now, claimed_until=None,
                           last_error=None)
        elif root is None:
            pacer.wait(notice.channel)
            resp = client.chat_postMessage(channel=notice.channel, text=text, blocks=blocks,
                                           metadata=notice_metadata(notice_id, token, notice.stage),
                                           unfurl_links=False)
            ts = resp["ts"]
            outcome = dict(state="sent", ts=ts, root_ts=ts, sent_at=now, claimed_until=None, last_error=None)
        else:
            pacer.wait(notice.channel)
            resp = client.chat_postMessage(channel=notice.channel, text=text, blocks=blocks, thread_ts=root,
                                           reply_broadcast=notice.stage == EXPIRED,
                                           metadata=notice_metadata(notice_id, token, notice.stage),
                                           unfurl_links=False)
            outcome = dict(state="sent", ts=resp["ts"], root_ts=root, sent_at=now, claimed_until=None, last_error=None)
            _update_root(client, notice.channel, root, text, blocks)
    except SlackApiError as exc:
        if exc.response.status_code == 429:
            pacer.back_off(notice.channel, _retry_after(exc.response.headers))
        _record_failure(engine, notice_id, now, attempts, exc, report)
        return
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("notice %s: Slack unreachable (%s); will retry", notice_id, type(exc).__name__)
        _retry_later(engine, notice_id, now + backoff(attempts), f"connection error: {type(exc).__name__}")
        report.retrying.append(notice_id)
        return
    with session_scope(engine) as session:
        queries.finish_notice(session=session, notice_id=notice_id, **outcome)
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


def _record_failure(engine: Engine, notice_id: int, now: datetime, attempts: int, exc: SlackApiError,
                    report: DeliveryReport) -> None:
    status = exc.response.status_code
    error = str(exc.response.get("error") or f"http {status}") if isinstance(exc.response.data, dict) else f"http {status}"
    if status == 429:
        retry_after = _retry_after(exc.response.headers)
        logger.warning("notice %s: rate limited, retrying in %ss", notice_id, retry_after)
        _retry_later(engine, notice_id, now + timedelta(seconds=retry_after), "ratelimited")
        report.retrying.append(notice_id)
    elif error in PERMANENT_ERRORS:
        logger.error("notice %s failed for good: %s", notice_id, error)
        with session_scope(engine) as session:
            queries.finish_notice(session=session, notice_id=notice_id, state="failed", last_error=error,
                                  claimed_until=None)
        report.failed.append(notice_id)
    else:
        logger.warning("notice %s: Slack answered %s; will retry", notice_id, error)
        _retry_later(engine, notice_id, now + backoff(attempts), error)
        report.retrying.append(notice_id)


def _retry_after(headers) -> int:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(1, int(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1


def _retry_later(engine: Engine, notice_id: int, when: datetime, reason: str) -> None:
    with session_scope(engine) as session:
        queries.finish_notice(session=session, notice_id=notice_id, state="pending", next_attempt_at=when,
                              claimed_until=None, last_error=reason)
