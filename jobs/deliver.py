"""Delivery: claim planned notices, post them to Slack, record the outcome.

The database is the record of what was sent. A notice is claimed with a
lease before posting, so two scans never post the same one; a failed post
goes back to pending with a backoff and is retried, never dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
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
from renewbot.usecases.kinds import kind_of
from storage import notices, queries
from storage.db import session_scope
from storage.models import Notice

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# Per channel, claimed at a time: about 3 s of posts at the channel's pace, well inside LEASE.
CLAIM_AHEAD = 3
# A channel held back longer than this (Retry-After) gives its claimed notices back instead of waiting.
HOLD_LIMIT = timedelta(seconds=30)
# Outcomes that do not come back to be claimed again in this pass.
FINAL = frozenset({"sent", "dropped", "failed"})
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

    Each channel has its own worker (up to `max_workers` at once), which claims only that channel's next
    few notices (at most CLAIM_AHEAD, or `limit` if smaller) and claims again as they drain: a lease
    covers only what is in flight, and no channel waits for another's, whatever the order of the rows.
    A channel's batch in which nothing reached an outcome ends that channel's pass: what failed waits for
    its retry time, not a busy loop. The pass ends when no other channel has anything to claim.
    """
    pacer = pacer or ChannelPacer()
    report = DeliveryReport()
    started = time.monotonic()

    def clock() -> datetime:
        # Leases, retry times and stamps move on with the real time spent: pacing takes real seconds.
        return now + timedelta(seconds=time.monotonic() - started)

    # Worded as of the scan's `now`: the moment its plan chose each notice's stage.
    pass_ = _Pass(engine=engine, client=client, pacer=pacer, report=report, clock=clock, worded_at=now,
                  per_claim=max(1, min(limit, CLAIM_AHEAD)))
    stopped: set[str] = set()  # channels whose pass ended without draining them
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="deliver") as pool:
        while True:
            with session_scope(engine) as session:
                channels = [c for c in notices.claimable_channels(session=session, now=clock()) if c not in stopped]
            if not channels:
                return report
            # Only a channel that drained is listed again (new work may have come due meanwhile).
            handled = _handled(report)
            work = {channel: pool.submit(pass_.drain, channel) for channel in channels}
            for channel, future in work.items():
                if not future.result():
                    stopped.add(channel)
            if _handled(report) == handled:
                return report  # listed but claimed by others meanwhile


def _handled(report: DeliveryReport) -> int:
    return len(report.sent) + len(report.dropped) + len(report.failed) + len(report.retrying)


@dataclass
class _Pass:
    engine: Engine
    client: WebClient
    pacer: ChannelPacer
    report: DeliveryReport
    clock: Callable[[], datetime]
    worded_at: datetime
    per_claim: int

    def drain(self, channel: str) -> bool:
        """Claims and posts this channel's due notices a few at a time. True once none is left to claim."""
        while True:
            with session_scope(self.engine) as session:
                claimed = notices.claim_due_notices(session=session, now=self.clock(), lease=LEASE,
                                                    limit=self.per_claim, channel=channel)
            if not claimed:
                return True
            if not self._deliver_batch(channel, [notice_id for notice_id, _ in claimed]):
                return False

    def _deliver_batch(self, channel: str, notice_ids: list[int]) -> bool:
        """Posts one claimed batch in order. True if any notice reached an outcome that does not come back."""
        progress = False
        for i, notice_id in enumerate(notice_ids):
            wait = self.pacer.ready_in(channel)
            if wait > HOLD_LIMIT.total_seconds():
                # Rate-limited for long: hand the rest back rather than sit on their leases.
                self._release(notice_ids[i:], self.clock() + timedelta(seconds=wait))
                return False
            try:
                outcome = _deliver_one(engine=self.engine, client=self.client, notice_id=notice_id,
                                       recorded_at=self.clock(), worded_at=self.worded_at, report=self.report,
                                       pacer=self.pacer)
            except Exception:
                # Left in "sending": its lease runs out and a later pass picks it up (and checks history first).
                logger.exception("notice %s: delivery failed unexpectedly", notice_id)
                continue
            progress = progress or outcome in FINAL
        return progress

    def _release(self, notice_ids: list[int], when: datetime) -> None:
        for notice_id in notice_ids:
            with session_scope(self.engine) as session:
                released = notices.release(session=session, notice_id=notice_id, next_attempt_at=when)
            if released:
                self.report.retrying.append(notice_id)


def _deliver_one(*, engine: Engine, client: WebClient, notice_id: int, recorded_at: datetime, worded_at: datetime,
                 report: DeliveryReport, pacer: ChannelPacer) -> str:
    """Posts one claimed notice and records the outcome: "sent", "dropped", "failed" or "retrying"."""
    with session_scope(engine) as session:
        notice = session.get(Notice, notice_id)
        token = queries.get_token(session=session, token_id=notice.token_id) if notice else None
        if notice is None or token is None or token.expires_at != notice.expires_at or token.retired:
            # Renewed, re-imported or retired since planning: the notice is about an expiry that no longer holds.
            notices.supersede(session=session, notice_id=notice_id, closed_at=recorded_at)
            report.dropped.append(notice_id)
            return "dropped"
        accounts = queries.token_accounts(session=session, token_id=token.id)
        root = notices.root_ts(session=session, token_id=token.id, expires_at=token.expires_at)
        attempts = notice.attempts
        kind = kind_of(token, session=session)
    blocks = notice_blocks(token, accounts, notice.stage, worded_at, kind)
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
            metadata = notice_metadata(notice_id, token, notice.stage, notice_seal(client, notice_id))
            resp = client.chat_postMessage(channel=notice.channel, text=text, blocks=blocks, metadata=metadata,
                                           unfurl_links=False, **thread)
            ts = resp["ts"]
            if root is not None:
                _update_root(client, notice.channel, root, text, blocks)
    except SlackApiError as exc:
        if exc.response.status_code == 429:
            pacer.back_off(notice.channel, _rate_limit_wait(exc.response.headers))
        return _record_failure(engine, notice_id, recorded_at, attempts, exc, report)
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("notice %s: Slack unreachable (%s); will retry", notice_id, type(exc).__name__)
        _retry_later(engine, notice_id, recorded_at + backoff(attempts), f"connection error: {type(exc).__name__}")
        report.retrying.append(notice_id)
        return "retrying"
    with session_scope(engine) as session:
        notices.record_sent(session=session, notice_id=notice_id, ts=ts, root_ts=root or ts, sent_at=recorded_at)
    report.sent.append(notice_id)
    logger.info("notice %s posted for token %s (%s)", notice_id, token.id, notice.stage)
    return "sent"


def notice_seal(client: WebClient, notice_id: int) -> str:
    """An HMAC of the notice id under the bot token: anyone can post metadata naming a notice, so a retry adopts
    a message from the history only when it carries this, which only the holder of the bot token can make."""
    key = (client.token or "").encode()
    return hmac.new(key, f"renewbot-notice:{notice_id}".encode(), hashlib.sha256).hexdigest()[:32]


def find_posted(client: WebClient, channel: str, notice_id: int, root: str | None) -> str | None:
    """The ts of our message carrying this notice's sealed metadata, from the channel (or thread) history."""
    seal = notice_seal(client, notice_id)
    if root is None:
        resp = client.conversations_history(channel=channel, include_all_metadata=True, limit=200)
    else:
        resp = client.conversations_replies(channel=channel, ts=root, include_all_metadata=True, limit=200)
    for message in resp.get("messages") or []:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if (meta.get("event_type") == NOTICE_EVENT_TYPE and payload.get("notice_id") == notice_id
                and isinstance(payload.get("seal"), str) and hmac.compare_digest(payload["seal"], seal)):
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
                    report: DeliveryReport) -> str:
    status = exc.response.status_code
    answered = isinstance(exc.response.data, dict)
    error = str(exc.response.get("error") or f"http {status}") if answered else f"http {status}"
    if status == 429:
        wait = _rate_limit_wait(exc.response.headers)
        logger.warning("notice %s: rate limited, retrying in %ss", notice_id, wait)
        _retry_later(engine, notice_id, recorded_at + timedelta(seconds=wait), "ratelimited")
        report.retrying.append(notice_id)
        return "retrying"
    if error in PERMANENT_ERRORS:
        logger.error("notice %s failed for good: %s", notice_id, error)
        with session_scope(engine) as session:
            notices.record_failed(session=session, notice_id=notice_id, error=error)
        report.failed.append(notice_id)
        return "failed"
    logger.warning("notice %s: Slack answered %s; will retry", notice_id, error)
    _retry_later(engine, notice_id, recorded_at + backoff(attempts), error)
    report.retrying.append(notice_id)
    return "retrying"


def _rate_limit_wait(headers) -> int:
    """Seconds to hold off after a 429: Slack's Retry-After, at least one (one when it gives none)."""
    return max(1, retry_after_seconds(headers) or 1)


def _retry_later(engine: Engine, notice_id: int, when: datetime, reason: str) -> None:
    with session_scope(engine) as session:
        notices.reschedule(session=session, notice_id=notice_id, next_attempt_at=when, error=reason)
