"""Connector delivery: claim due deliveries, send each renewal to its platform, record the outcome, answer
in the renewal's thread.

The database is the record: a delivery is claimed with a lease before sending, sent outside any transaction,
and its outcome written only while it is still ours. A process that dies mid-send leaves it "sending" until
its lease runs out; then another sends it again with the same Renewbot-Delivery id (receivers drop
repeats). Once a 2xx is recorded it is never sent again.

The body is built at send time from the token's encrypted secret, and only while the delivery is the
token's newest: an older renewal is never sent carrying a newer secret.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from jobs.pacing import backoff
from renewbot.blocks.platform import delivered_blocks, delivered_text, failed_blocks, failed_text
from renewbot.connectors.base import EVENT_RENEWED, Attempt, DeliveryRequest, Outcome, Sender
from renewbot.connectors.payload import body_secrets, clean_text, renewed_body
from renewbot.connectors.registry import connector_types
from renewbot.crypto import SecretBox
from renewbot.runtime.metrics import NO_METRICS, Metrics
from storage import deliveries, once
from storage.db import session_scope
from storage.models import Account, Connector, Delivery, DeliveryState, Renewal, Token

logger = logging.getLogger(__name__)

# Longer than any one attempt (webhook 10 s, command 60 s): a live sender never loses its claim.
LEASE = timedelta(minutes=2)
INTERVAL_SECONDS = 30.0  # serve's pass when nothing wakes it earlier
MIN_RETRY = timedelta(seconds=1)  # "Retry-After: 0" must not turn a pass into a busy loop
ANSWERED_FOR = timedelta(days=30)  # how long "this delivery's thread answer was sent" is remembered
GAVE_UP = "retried for 24 hours; last: "  # how a delivery that ran out of retries is recorded (see answer)

SenderFor = Callable[[Connector], Sender]


@dataclass
class ConnectReport:
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)


def registry_senders(environ: Mapping[str, str]) -> SenderFor:
    """Senders from the connector types (built-in and plugins), built once per connector per pass."""
    types = connector_types()

    def sender_for(connector: Connector) -> Sender:
        kind = types.get(connector.type)
        if kind is None:
            raise LookupError(f"connector type {connector.type!r} is not installed")
        return kind.sender(connector.config, environ)
    return sender_for


def deliver_connectors(*, engine: Engine, client, box: SecretBox, now: datetime,
                       environ: Mapping[str, str] | None = None, sender_for: SenderFor | None = None,
                       limit: int = 20, max_workers: int = 4, metrics: Metrics | None = None) -> ConnectReport:
    """Sends every due delivery, a few at a time in parallel, then answers in each finished one's thread.

    Each round claims only as many as are sent at once (at most `limit`): a lease then covers only what is in
    flight, never a delivery still queued behind a slow sender (as jobs/deliver.py's CLAIM_AHEAD). A delivery is
    tried at most once per pass; one to retry waits for its retry time (no busy loop on "Retry-After: 0").
    """
    report = ConnectReport()
    started = time.monotonic()

    def clock() -> datetime:
        # Leases, retry times and stamps move on with the real time spent sending.
        return now + timedelta(seconds=time.monotonic() - started)

    pass_ = _Pass(engine=engine, client=client, box=box, clock=clock, report=report,
                  sender_for=_cached(sender_for or registry_senders(os.environ if environ is None else environ)))
    per_claim = max(1, min(limit, max_workers))
    tried: set[int] = set()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="connect") as pool:
        while True:
            with session_scope(engine) as session:
                claimed = deliveries.claim_due(session=session, now=clock(), lease=LEASE, limit=per_claim,
                                               exclude=tried)
            if not claimed:
                break
            tried.update(claimed)
            for result in pool.map(pass_.deliver_one, claimed):
                (metrics or NO_METRICS).connector_delivery(result)
    if report.delivered or report.failed or report.retrying:
        logger.info("connectors: %d delivered, %d to retry, %d failed, %d superseded", len(report.delivered),
                    len(report.retrying), len(report.failed), len(report.superseded))
    return report


def _cached(sender_for: SenderFor) -> SenderFor:
    built: dict[str, Sender | Exception] = {}
    lock = threading.Lock()

    def get(connector: Connector) -> Sender:
        with lock:
            if connector.id not in built:
                try:
                    built[connector.id] = sender_for(connector)
                except Exception as exc:  # kept: raised again for each of its deliveries
                    built[connector.id] = exc
            found = built[connector.id]
        if isinstance(found, Exception):
            raise found
        return found
    return get


@dataclass(frozen=True)
class _Prepared:
    delivery_id: str
    connector: Connector
    body: bytes = field(repr=False)  # holds the new secret
    give_up_at: datetime
    attempts: int


@dataclass
class _Pass:
    engine: Engine
    client: object
    box: SecretBox
    clock: Callable[[], datetime]
    report: ConnectReport
    sender_for: SenderFor

    def deliver_one(self, row_id: int) -> str:
        """One claimed delivery: "delivered", "failed", "superseded", "retrying" or "lost" (no longer ours)."""
        try:
            prepared = self._prepare(row_id)
            if isinstance(prepared, str):
                return prepared
            attempt = self._send(prepared)
            return self._record(row_id, prepared, attempt)
        except Exception:
            # Left "sending": its lease runs out and a later pass tries again, with the same delivery id.
            logger.exception("delivery %s failed unexpectedly", row_id)
            return "lost"

    def _prepare(self, row_id: int) -> _Prepared | str:
        failed = None
        with session_scope(self.engine) as session:
            delivery = session.get(Delivery, row_id)
            if delivery is None or delivery.state != DeliveryState.SENDING:
                return "lost"
            token = session.get(Token, delivery.token_id)  # the secret first, then the newest check (see is_newest)
            ciphertext = token.secret_encrypted if token is not None else None
            if not deliveries.is_newest(session=session, delivery=delivery):
                deliveries.supersede_claimed(session=session, row_id=row_id, now=self.clock())
                self.report.superseded.append(row_id)
                logger.info("delivery %s superseded by a newer renewal of %s: not sent", delivery.delivery_id,
                            delivery.token_id)
                return "superseded"
            renewal = session.get(Renewal, delivery.renewal_id)
            connector = session.get(Connector, delivery.connector_id)
            problem = ("its token holds no secret" if token is None or ciphertext is None or renewal is None
                       else f"connector {delivery.connector_id} is no longer configured" if connector is None
                       else None)
            if problem:
                place = deliveries.record_failed(session=session, row_id=row_id, now=self.clock(), error=problem)
                failed = (place, delivery.delivery_id, delivery.connector_id)
            else:
                snapshot = dict(delivery_id=delivery.delivery_id, renewal_id=renewal.id,
                                occurred_at=renewal.renewed_at, renewed_by=renewal.renewed_by, token_id=token.id,
                                kind=token.kind, name=token.name, app_id=token.app_id,
                                expires_at=renewal.new_expires_at, accounts=renewal.accounts)
                give_up_at, attempts = delivery.give_up_at, delivery.attempts
        if failed:
            return self._failed(row_id, *failed, problem, gave_up=False)
        try:
            secret = self.box.decrypt(ciphertext)
        except Exception as exc:  # a key missing from TOKEN_ENCRYPTION_KEYS: fixable, so retried
            return self._retry(row_id, snapshot["delivery_id"], give_up_at, attempts, None,
                               f"cannot decrypt the token's secret ({type(exc).__name__})", connector.id)
        return _Prepared(delivery_id=snapshot["delivery_id"], connector=connector,
                         body=renewed_body(secret=secret, **snapshot), give_up_at=give_up_at, attempts=attempts)

    def _send(self, prepared: _Prepared) -> Attempt:
        attempt = self._attempt(prepared)
        # Whatever came back, or went wrong, is shown to people and stored: the secret it was sent must not be in
        # it, on any path.
        secrets = body_secrets(prepared.body)
        accounts = tuple(type(a)(a.id, a.ok, clean_text(a.error, secrets) if a.error else a.error)
                         for a in attempt.accounts)
        return Attempt(attempt.outcome, clean_text(attempt.detail, secrets, limit=300) or attempt.outcome.value,
                       accounts=accounts, retry_after=attempt.retry_after)

    def _attempt(self, prepared: _Prepared) -> Attempt:
        try:
            sender = self.sender_for(prepared.connector)
        except Exception as exc:
            return Attempt(Outcome.RETRY, f"connector not usable: {exc}")
        try:
            return sender(DeliveryRequest(EVENT_RENEWED, prepared.delivery_id, prepared.body))
        except Exception as exc:
            logger.error("connector %s: its sender raised %s", prepared.connector.id, type(exc).__name__)
            return Attempt(Outcome.RETRY, f"sender error ({type(exc).__name__})")

    def _record(self, row_id: int, prepared: _Prepared, attempt: Attempt) -> str:
        connector_id = prepared.connector.id
        if attempt.outcome == Outcome.RETRY:
            return self._retry(row_id, prepared.delivery_id, prepared.give_up_at, prepared.attempts,
                               attempt.retry_after, attempt.detail, connector_id)
        result = [{"id": a.id, "ok": a.ok, "error": a.error} for a in attempt.accounts]
        with session_scope(self.engine) as session:
            if attempt.outcome == Outcome.DELIVERED:
                place = deliveries.record_delivered(session=session, row_id=row_id, now=self.clock(), result=result)
                outcome, listed = "delivered", self.report.delivered
            else:
                place = deliveries.record_failed(session=session, row_id=row_id, now=self.clock(),
                                                 error=attempt.detail, result=result)
                outcome, listed = "failed", self.report.failed
        if place is None:
            return "lost"  # our lease ran out and another process had the last word
        listed.append(row_id)
        log = logger.info if outcome == "delivered" else logger.error
        log("delivery %s to %s: %s (%s)", prepared.delivery_id, connector_id, outcome, attempt.detail)
        if place.channel:
            answer(engine=self.engine, client=self.client, row_id=row_id, now=self.clock(), gave_up=False)
        return outcome

    def _retry(self, row_id: int, delivery_id: str, give_up_at: datetime, attempts: int,
               retry_after: float | None, detail: str, connector_id: str) -> str:
        moment = self.clock()
        if moment >= give_up_at:
            error = GAVE_UP + detail
            with session_scope(self.engine) as session:
                place = deliveries.record_failed(session=session, row_id=row_id, now=self.clock(), error=error)
            return self._failed(row_id, place, delivery_id, connector_id, error, gave_up=True)
        wait = timedelta(seconds=retry_after) if retry_after is not None else backoff(attempts)
        when = min(moment + max(wait, MIN_RETRY), give_up_at)
        with session_scope(self.engine) as session:
            mine = deliveries.reschedule(session=session, row_id=row_id, next_attempt_at=when, error=detail)
        if not mine:
            return "lost"
        self.report.retrying.append(row_id)
        logger.warning("delivery %s to %s: %s; retrying at %s", row_id, connector_id, detail, when.isoformat())
        return "retrying"

    def _failed(self, row_id: int, place: deliveries.ReplyPlace | None, delivery_id: str, connector_id: str,
                error: str, *, gave_up: bool) -> str:
        """After the transaction that recorded the failure: no Slack call is made while one is open."""
        if place is None:
            return "lost"
        self.report.failed.append(row_id)
        logger.error("delivery %s to %s failed: %s", delivery_id, connector_id, error)
        if place.channel:
            answer(engine=self.engine, client=self.client, row_id=row_id, now=self.clock(), gave_up=gave_up)
        return "failed"


def answer(*, engine: Engine, client, row_id: int, now: datetime, gave_up: bool | None = None) -> bool:
    """Says in the renewal's thread how its delivery ended: at most once across replicas and restarts (a claim
    committed before posting), and only once both the outcome and the thread are known. True if it posted.

    `gave_up`: a failure after 24 hours of retries, not a refusal; None (answered later, from announce) reads it
    from the recorded error, since a refusal on the last attempt also finishes at give_up_at."""
    with session_scope(engine) as session:
        delivery = session.get(Delivery, row_id)
        if (delivery is None or delivery.state not in (DeliveryState.DELIVERED, DeliveryState.FAILED)
                or not delivery.reply_channel):
            return False
        renewal = session.get(Renewal, delivery.renewal_id)
        token = session.get(Token, delivery.token_id)
        if renewal is None or token is None:
            return False
        ids = [a["id"] for a in renewal.accounts]
        settings = {a.id: a.settings_url for a in _accounts(session, ids)}
        if not once.claim(session=session, key=f"delivery-answer:{delivery.delivery_id}",
                          expires_at=now + ANSWERED_FOR):
            return False
    if delivery.state == DeliveryState.DELIVERED:
        text = delivered_text(token.name, renewal.new_expires_at, delivery.connector_id, renewal.accounts,
                              delivery.result or [])
        blocks = delivered_blocks(token.name, delivery.connector_id, renewal.accounts, delivery.result or [],
                                  settings)
    else:
        if gave_up is None:
            gave_up = (delivery.last_error or "").startswith(GAVE_UP)
        text = failed_text(token.name, renewal.new_expires_at, delivery.connector_id, renewal.renewed_by)
        blocks = failed_blocks(token.name, delivery.connector_id, renewal.renewed_by, delivery.last_error or "",
                               gave_up, renewal.accounts, settings)
    try:
        client.chat_postMessage(channel=delivery.reply_channel, thread_ts=delivery.reply_thread_ts, text=text,
                                blocks=blocks, unfurl_links=False)
    except Exception:
        logger.exception("delivery %s: the thread answer could not be posted", delivery.delivery_id)
        return False
    return True


def _accounts(session: Session, ids: list[str]) -> list[Account]:
    return list(session.exec(select(Account).where(col(Account.id).in_(ids))).all()) if ids else []


def run_when_woken(job: Callable[[], object], *, wake: threading.Event, stop: threading.Event,
                   interval: float = INTERVAL_SECONDS) -> None:
    """serve's connector loop: a pass every `interval` seconds, and at once when `wake` is set (a renewal just
    committed), so a delivery never waits for the next tick. A wake during a pass runs another pass after it."""
    while not stop.is_set():
        wake.clear()
        job()
        wake.wait(interval)
