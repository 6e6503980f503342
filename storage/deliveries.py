"""The connector outbox: one Delivery row per renewal and connector, planned in the renewal's transaction.

Mirrors storage/notices.py: rows are claimed with a lease (PostgreSQL FOR UPDATE SKIP LOCKED, SQLite a
compare-and-set per row), and every outcome is written only while the row is still ours ("sending"), so a
later word (another replica's, after our lease ran out) stands. Each function takes the session
keyword-only; callers own the commit. No secret is ever stored here: the body is built at send time.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import Delivery, DeliveryState, PlatformConfirmation, Renewal

GIVE_UP_AFTER = timedelta(hours=24)


def new_delivery_id() -> str:
    """The Renewbot-Delivery header: random, so it says nothing about the renewal or the token."""
    return f"dlv_{uuid.uuid4().hex}"


def plan(*, session: Session, renewal_id: int, token_id: str, connector_id: str, now: datetime) -> Delivery:
    """One delivery of this renewal to this connector, due now; retried until `now` + GIVE_UP_AFTER."""
    delivery = Delivery(delivery_id=new_delivery_id(), renewal_id=renewal_id, token_id=token_id,
                        connector_id=connector_id, state=DeliveryState.PENDING, attempts=0, give_up_at=now +
                        GIVE_UP_AFTER, created_at=now)
    session.add(delivery)
    session.flush()
    return delivery


def supersede_older(*, session: Session, token_id: str, renewal_id: int, now: datetime) -> int:
    """A newer renewal replaces the token's deliveries still waiting: they would carry an older secret than the
    token now holds. One in flight ("sending") is left to finish; the job checks before it builds a body."""
    stmt = (update(Delivery)
            .where(Delivery.token_id == token_id, Delivery.renewal_id < renewal_id,
                   Delivery.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SUPERSEDED, finished_at=now, claimed_until=None))
    return session.execute(stmt).rowcount


def _claimable(now: datetime):
    other = aliased(Delivery)
    # Another delivery of the same token in flight goes first: the receiver sees renewals in their order.
    busy = exists().where(other.token_id == Delivery.token_id, other.id != Delivery.id,
                          other.state == DeliveryState.SENDING, other.claimed_until >= now)
    return or_(
        (Delivery.state == DeliveryState.PENDING)
        & (or_(col(Delivery.next_attempt_at).is_(None), Delivery.next_attempt_at <= now)),
        (Delivery.state == DeliveryState.SENDING) & (Delivery.claimed_until < now),  # its owner died
    ) & ~busy


def claim_due(*, session: Session, now: datetime, lease: timedelta, limit: int = 20,
              exclude: Collection[int] = ()) -> list[int]:
    """Claims deliveries to send (their row ids), so concurrent jobs and replicas never share one; none of
    `exclude` (those a pass already tried).

    PostgreSQL: one UPDATE over rows locked with FOR UPDATE SKIP LOCKED.
    SQLite (one writer at a time): a compare-and-set UPDATE per candidate row.
    """
    claim = dict(state=DeliveryState.SENDING, claimed_until=now + lease, attempts=Delivery.attempts + 1)
    due = _claimable(now)
    if exclude:
        due = due & col(Delivery.id).not_in(list(exclude))
    if session.get_bind().dialect.name == "postgresql":
        locked = (select(Delivery.id).where(due).order_by(Delivery.id).limit(limit)
                  .with_for_update(skip_locked=True, of=Delivery))
        rows = session.execute(update(Delivery).where(col(Delivery.id).in_(locked)).values(**claim)
                               .returning(Delivery.id)).all()
        return sorted(r[0] for r in rows)
    while True:
        candidates = session.exec(select(Delivery.id).where(due).order_by(Delivery.id).limit(limit)).all()
        claimed = [delivery_id for delivery_id in candidates
                   if session.execute(update(Delivery).where(Delivery.id == delivery_id, due)
                                      .values(**claim)).rowcount == 1]
        # Every candidate went to another claimer between the read and the write: look again (now holding
        # the write lock, so the second read is current) rather than report nothing left.
        if claimed or not candidates:
            return claimed


def is_newest(*, session: Session, delivery: Delivery) -> bool:
    """True when no later renewal by a person changed the token's secret since this delivery's renewal.

    Read after the token's secret: a secret newer than this renewal was committed with its Renewal row, so
    this later statement sees that row too (even under READ COMMITTED)."""
    newer = select(Renewal.id).where(Renewal.token_id == delivery.token_id, Renewal.id > delivery.renewal_id,
                                     col(Renewal.via).is_(None)).limit(1)
    return session.exec(newer).first() is None


# --- the outcome of a claimed delivery -------------------------------------


@dataclass(frozen=True)
class ReplyPlace:
    """Where the renewal was confirmed in Slack, if that is known yet."""
    channel: str | None
    thread_ts: str | None
    confirmation_ts: str | None


def _finish_claimed(*, session: Session, row_id: int, **values) -> ReplyPlace | None:
    """Writes the outcome if the row is still ours; returns where to answer (RETURNING reads the confirmation's
    place as of this write, so a confirmation stored concurrently is seen either here or by the one storing it)."""
    row = session.execute(
        update(Delivery).where(Delivery.id == row_id, Delivery.state == DeliveryState.SENDING).values(**values)
        .returning(Delivery.reply_channel, Delivery.reply_thread_ts, Delivery.confirmation_ts)
    ).first()
    return None if row is None else ReplyPlace(*row)


def record_delivered(*, session: Session, row_id: int, now: datetime, result: list[dict]) -> ReplyPlace | None:
    """The receiver took it (`result`: what it said per account): never sent again."""
    return _finish_claimed(session=session, row_id=row_id, state=DeliveryState.DELIVERED, finished_at=now,
                           claimed_until=None, last_error=None, result=result)


def record_failed(*, session: Session, row_id: int, now: datetime, error: str,
                  result: list[dict] | None = None) -> ReplyPlace | None:
    """Refused for good, or retried until give_up_at: a person must do it by hand."""
    return _finish_claimed(session=session, row_id=row_id, state=DeliveryState.FAILED, finished_at=now,
                           claimed_until=None, last_error=error, result=result)


def reschedule(*, session: Session, row_id: int, next_attempt_at: datetime, error: str) -> bool:
    """Back to pending, to be claimed again from `next_attempt_at`, with the same delivery id."""
    return _finish_claimed(session=session, row_id=row_id, state=DeliveryState.PENDING,
                           next_attempt_at=next_attempt_at, claimed_until=None, last_error=error) is not None


def supersede_claimed(*, session: Session, row_id: int, now: datetime) -> bool:
    """Claimed, but a newer renewal changed the secret since: never sent (the newer delivery carries it)."""
    return _finish_claimed(session=session, row_id=row_id, state=DeliveryState.SUPERSEDED, finished_at=now,
                           claimed_until=None) is not None


# --- where the renewal was confirmed ----------------------------------------


def set_reply_place(*, session: Session, renewal_id: int, channel: str, thread_ts: str,
                    confirmation_ts: str | None) -> list[tuple[int, str]]:
    """Stores where the renewal's confirmation was posted; returns (row id, state) of its deliveries, as of this
    write: one already finished is owed its answer by the caller (the job could not know where to say it)."""
    rows = session.execute(
        update(Delivery).where(Delivery.renewal_id == renewal_id)
        .values(reply_channel=channel, reply_thread_ts=thread_ts, confirmation_ts=confirmation_ts)
        .returning(Delivery.id, Delivery.state)
    ).all()
    return [(r[0], r[1]) for r in rows]


# --- "Done in the platform" -------------------------------------------------


def confirm_by_hand(*, session: Session, renewal_id: int, user_id: str, now: datetime) -> PlatformConfirmation:
    """Records who said the renewal reached the platform by hand; the first to say so stays on record."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(PlatformConfirmation).values(renewal_id=renewal_id, confirmed_by=user_id, confirmed_at=now)
                    .on_conflict_do_nothing(index_elements=["renewal_id"]))
    return session.exec(select(PlatformConfirmation).where(PlatformConfirmation.renewal_id == renewal_id)
                        .execution_options(populate_existing=True)).one()


# --- reads ------------------------------------------------------------------


def unfinished_by_token(*, session: Session, token_ids: Sequence[str]) -> dict[str, list[Delivery]]:
    """Per token: its deliveries pending, in flight or failed (what `status` shows), oldest first. A failure
    that a later delivery of the same token made good is left out."""
    out: dict[str, list[Delivery]] = {t: [] for t in token_ids}
    if not token_ids:
        return out
    shown = (*DeliveryState.open(), DeliveryState.FAILED)
    later = aliased(Delivery)
    made_good = exists().where(later.token_id == Delivery.token_id, later.connector_id == Delivery.connector_id,
                               later.renewal_id > Delivery.renewal_id, later.state == DeliveryState.DELIVERED)
    stmt = (select(Delivery).where(col(Delivery.token_id).in_(token_ids), col(Delivery.state).in_(shown),
                                   ~((Delivery.state == DeliveryState.FAILED) & made_good))
            .order_by(Delivery.id))
    for delivery in session.exec(stmt).all():
        out[delivery.token_id].append(delivery)
    return out
