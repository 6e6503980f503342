"""Delivery: claim planned notices, post them to Slack, record the outcome.

The database is the record of what was sent. A notice is claimed with a
lease before posting, so two scans never post the same one; a failed post
goes back to pending with a backoff and is retried, never dropped.

A refusal a person can fix is not a loss either: the bot joins a public channel it is not in, tells the
token's owners (once) when the channel cannot be found, and pauses everything while Slack refuses the bot
token itself (see SlackHealth), marking nothing failed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from jobs.pacing import ChannelPacer, backoff
from jobs.permalinks import store_permalink
from renewbot.blocks.ids import NOTICE_EVENT_TYPE
from renewbot.blocks.notice import notice_blocks, notice_metadata, notice_text
from renewbot.domain.thresholds import EXPIRED
from renewbot.runtime.log_context import log_ids
from renewbot.runtime.metrics import NO_METRICS, Metrics
from renewbot.runtime.slack_client import retry_after_seconds
from renewbot.usecases.failures import TELL_OWNERS, TOKEN_REFUSED, TOLD_FOR, owners_message, told_key, user_owners
from renewbot.usecases.kinds import kind_of
from storage import notices, once, queries
from storage.db import session_scope
from storage.models import Notice, Token

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# Per channel, claimed at a time: about 3 s of posts at the channel's pace, well inside LEASE.
CLAIM_AHEAD = 3
# A channel held back longer than this (Retry-After) gives its claimed notices back instead of waiting.
HOLD_LIMIT = timedelta(seconds=30)
# Outcomes that do not come back to be claimed again in this pass.
FINAL = frozenset({"sent", "dropped", "failed"})
# While Slack refuses the bot token, auth.test is asked at most this often whether it works again.
RECHECK_TOKEN = timedelta(minutes=1)
# Retrying these cannot help until a person fixes the channel (then `retry-failed`, or inviting the bot,
# posts it) or the message. A refused bot token (TOKEN_REFUSED) is not among them: it pauses delivery.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "missing_scope", "restricted_action", "msg_too_long",
    "invalid_blocks", "method_not_supported_for_channel_type",
})


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    refused: str | None = None  # Slack refused the bot token ("invalid_auth", ...): the pass stopped


class SlackHealth:
    """Whether Slack refuses the bot token: one per process, shared by the delivery jobs and /healthz.

    Only a refusal of the token itself sets it (invalid_auth, token_revoked, account_inactive): an outage
    (5xx, timeouts) is retried, not fixed by a person. While it is set, delivery does nothing; auth.test,
    asked at most once per `recheck`, clears it when the token works again.
    """

    def __init__(self, *, recheck: timedelta = RECHECK_TOKEN, monotonic: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._refused: str | None = None
        self._checked = 0.0
        self._recheck = recheck.total_seconds()
        self._monotonic = monotonic

    @property
    def refused(self) -> str | None:
        """Slack's error for the bot token ("invalid_auth", ...), or None while it works."""
        return self._refused

    def refuse(self, error: str) -> None:
        with self._lock:
            first, self._refused, self._checked = self._refused is None, error, self._monotonic()
        if first:
            logger.error("Slack refused the bot token (%s): delivery is paused until it works again "
                         "(reinstall the app or set SLACK_BOT_TOKEN); nothing is marked failed", error)

    def usable(self, client: WebClient) -> bool:
        """True when delivery may post: the token was not refused, or auth.test now accepts it."""
        with self._lock:
            if self._refused is None:
                return True
            if self._monotonic() - self._checked < self._recheck:
                return False
            self._checked = self._monotonic()
        try:
            client.auth_test()
        except SlackApiError as exc:
            error = _error_code(exc)
            if error in TOKEN_REFUSED:
                self.refuse(error)
            return False  # refused still, or Slack cannot say: stay paused
        except (URLError, OSError, TimeoutError):
            return False
        with self._lock:
            self._refused = None
        logger.info("Slack accepts the bot token again: delivery resumes")
        return True


def deliver_due(*, engine: Engine, client: WebClient, now: datetime, pacer: ChannelPacer | None = None,
                limit: int = 50, max_workers: int = 8, health: SlackHealth | None = None,
                channel: str | None = None, metrics: Metrics | None = None) -> DeliveryReport:
    """Posts everything claimable, channel by channel in parallel, each channel paced.

    Each channel has its own worker (up to `max_workers` at once), which claims only that channel's next
    few notices (at most CLAIM_AHEAD, or `limit` if smaller) and claims again as they drain: a lease
    covers only what is in flight, and no channel waits for another's, whatever the order of the rows.
    A channel's batch in which nothing reached an outcome ends that channel's pass: what failed waits for
    its retry time, not a busy loop. The pass ends when no other channel has anything to claim, or as soon
    as Slack refuses the bot token (`health`; while it refuses, the pass returns at once). With `channel`,
    only that channel's notices.
    """
    pacer = pacer or ChannelPacer()
    health = health or SlackHealth()
    report = DeliveryReport()
    if not health.usable(client):
        report.refused = health.refused
        return report
    started = time.monotonic()

    def clock() -> datetime:
        # Leases, retry times and stamps move on with the real time spent: pacing takes real seconds.
        return now + timedelta(seconds=time.monotonic() - started)

    # Worded as of the scan's `now`: the moment its plan chose each notice's stage.
    pass_ = _Pass(engine=engine, client=client, pacer=pacer, report=report, clock=clock, worded_at=now,
                  per_claim=max(1, min(limit, CLAIM_AHEAD)), health=health, metrics=metrics or NO_METRICS)
    stopped: set[str] = set()  # channels whose pass ended without draining them
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="deliver") as pool:
        while True:
            with session_scope(engine) as session:
                channels = [c for c in notices.claimable_channels(session=session, now=clock())
                            if c not in stopped and channel in (None, c)]
            if not channels:
                return report
            # Only a channel that drained is listed again (new work may have come due meanwhile).
            handled = _handled(report)
            work = {channel: pool.submit(pass_.drain, channel) for channel in channels}
            for listed, future in work.items():
                if not future.result():
                    stopped.add(listed)
            if health.refused:
                report.refused = health.refused
                return report  # every worker handed its claims back
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
    health: SlackHealth
    metrics: Metrics = NO_METRICS

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
            if self.health.refused:
                # The bot token was refused (here or in another channel's worker): the claims go back untried.
                self._release(notice_ids[i:], self.clock())
                return False
            wait = self.pacer.ready_in(channel)
            if wait > HOLD_LIMIT.total_seconds():
                # Rate-limited for long: hand the rest back rather than sit on their leases.
                self._release(notice_ids[i:], self.clock() + timedelta(seconds=wait))
                return False
            try:
                with log_ids(notice=notice_id):
                    outcome = _deliver_one(engine=self.engine, client=self.client, notice_id=notice_id,
                                           recorded_at=self.clock(), worded_at=self.worded_at, report=self.report,
                                           pacer=self.pacer, health=self.health, metrics=self.metrics)
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
                 report: DeliveryReport, pacer: ChannelPacer, health: SlackHealth,
                 metrics: Metrics = NO_METRICS) -> str:
    """Posts one claimed notice and records the outcome: "sent", "dropped", "failed", "retrying" or "refused"."""
    with session_scope(engine) as session:
        notice = session.get(Notice, notice_id)
        token = queries.get_token(session=session, token_id=notice.token_id) if notice else None
        if notice is None or token is None or token.expires_at != notice.expires_at or token.retired:
            # Renewed, re-imported or retired since planning: the notice is about an expiry that no longer holds.
            notices.supersede(session=session, notice_id=notice_id, closed_at=recorded_at)
            report.dropped.append(notice_id)
            return "dropped"
        accounts = queries.token_accounts(session=session, token_id=token.id)
        root = notices.root_ts(session=session, token_id=token.id, expires_at=token.expires_at,
                               channel=notice.channel)
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
            resp = post_joining(client, channel=notice.channel, text=text, blocks=blocks, metadata=metadata,
                                 unfurl_links=False, **thread)
            ts = resp["ts"]
            if root is not None:
                _update_root(client, notice.channel, root, text, blocks)
    except SlackApiError as exc:
        if exc.response.status_code == 429:
            pacer.back_off(notice.channel, rate_limit_wait(exc.response.headers))
        error = _error_code(exc)
        if error in TOKEN_REFUSED:
            # Not this notice's fault: it goes back untouched (its attempt given back) and delivery pauses.
            with session_scope(engine) as session:
                notices.release(session=session, notice_id=notice_id, next_attempt_at=recorded_at)
            health.refuse(error)
            return "refused"
        outcome = _record_failure(engine, notice_id, recorded_at, attempts, exc, report)
        if outcome == "failed":
            metrics.notice(notice.stage, "failed")
        if outcome == "failed" and error in TELL_OWNERS:
            _tell_owners(engine, client, token, notice.channel, error)
        return outcome
    except (URLError, OSError, TimeoutError) as exc:
        logger.warning("notice %s: Slack unreachable (%s); will retry", notice_id, type(exc).__name__)
        _retry_later(engine, notice_id, recorded_at + backoff(attempts), f"connection error: {type(exc).__name__}")
        report.retrying.append(notice_id)
        return "retrying"
    with session_scope(engine) as session:
        notices.record_sent(session=session, notice_id=notice_id, ts=ts, root_ts=root or ts, sent_at=recorded_at)
    store_permalink(engine, client, notice_id, notice.channel, ts)
    report.sent.append(notice_id)
    metrics.notice(notice.stage, "sent")
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


def post_joining(client: WebClient, *, channel: str, **message) -> dict:
    """chat.postMessage; in a public channel the bot is not in (not_in_channel), it joins and posts again.

    A join Slack refuses (a private channel, an archived one, no channels:join scope) is that post's error."""
    try:
        return client.chat_postMessage(channel=channel, **message)
    except SlackApiError as exc:
        if _error_code(exc) != "not_in_channel":
            raise
    logger.info("not in %s: joining it to post there", channel)
    client.conversations_join(channel=channel)
    return client.chat_postMessage(channel=channel, **message)


def _tell_owners(engine: Engine, client: WebClient, token: Token, channel: str, error: str) -> None:
    """A direct message to each of the token's owners who is a person, once per token and channel (across
    replicas and scans). Best effort: a message that cannot be sent is logged, never fails delivery."""
    try:
        people = user_owners(token.owners)
        if not people:
            logger.warning("token %s: notices cannot be posted in %s (%s) and it names no owner to tell",
                           token.id, channel, error)
            return
        with session_scope(engine) as session:
            first = once.claim(session=session, key=told_key(token.id, channel),
                               expires_at=token.expires_at + TOLD_FOR)
        if not first:
            return
        text = owners_message(token, channel, error)
        for user in people:
            try:
                im = client.conversations_open(users=user)["channel"]["id"]
                client.chat_postMessage(channel=im, text=text)
            except (SlackApiError, URLError, OSError, TimeoutError) as exc:
                logger.warning("could not tell %s that %s cannot be posted in %s (%s)", user, token.id, channel,
                               _error_code(exc) if isinstance(exc, SlackApiError) else type(exc).__name__)
    except Exception:
        logger.exception("token %s: telling its owners about %s failed", token.id, channel)


def _error_code(exc: SlackApiError) -> str:
    """Slack's error code ("channel_not_found", ...), or "http <status>" when it answered no JSON."""
    status = exc.response.status_code
    answered = isinstance(exc.response.data, dict)
    return str(exc.response.get("error") or f"http {status}") if answered else f"http {status}"


def _record_failure(engine: Engine, notice_id: int, recorded_at: datetime, attempts: int, exc: SlackApiError,
                    report: DeliveryReport) -> str:
    status = exc.response.status_code
    error = _error_code(exc)
    if status == 429:
        wait = rate_limit_wait(exc.response.headers)
        logger.warning("notice %s: rate limited, retrying in %ss", notice_id, wait)
        _retry_later(engine, notice_id, recorded_at + timedelta(seconds=wait), "ratelimited")
        report.retrying.append(notice_id)
        return "retrying"
    if error in PERMANENT_ERRORS:
        logger.error("notice %s failed: %s (`renewbot status` says how to fix it)", notice_id, error)
        with session_scope(engine) as session:
            notices.record_failed(session=session, notice_id=notice_id, error=error)
        report.failed.append(notice_id)
        return "failed"
    logger.warning("notice %s: Slack answered %s; will retry", notice_id, error)
    _retry_later(engine, notice_id, recorded_at + backoff(attempts), error)
    report.retrying.append(notice_id)
    return "retrying"


def rate_limit_wait(headers) -> int:
    """Seconds to hold off after a 429: Slack's Retry-After, at least one (one when it gives none)."""
    return max(1, retry_after_seconds(headers) or 1)


def _retry_later(engine: Engine, notice_id: int, when: datetime, reason: str) -> None:
    with session_scope(engine) as session:
        notices.reschedule(session=session, notice_id=notice_id, next_attempt_at=when, error=reason)
