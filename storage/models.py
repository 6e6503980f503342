"""The tables. Every datetime column is UTCDateTime (aware on SQLite too)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Column, Index, UniqueConstraint, false, func, text, true
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _dt(nullable: bool = True, **kw) -> Column:
    return Column(UTCDateTime(), nullable=nullable, **kw)


def _retired() -> Column:
    # Retired rows get no notices and leave the lists; nothing is ever deleted, so history stays.
    return Column(Boolean, nullable=False, server_default=false(), default=False)


# A token kind a team defined in its import file (the built-in kinds live in renewbot/domain/kinds.py).
class Kind(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=60)
    label: str
    pattern: str | None = None  # what a pasted secret must match (a Python regex)
    pattern_message: str | None = None  # the inline message when it does not
    lifetime_days: int | None = None  # the form suggests today + this
    notify_days: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    steps: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reminder: str | None = None  # shown at the top of the renewal form


# A seller account on the marketplace side (the guide's step 8 checkboxes).
class Account(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=200)
    name: str
    enabled: bool = True
    fetch_orders: bool = True  # False is the guide's "Don't fetch orders"
    settings_url: str | None = None
    retired: bool = Field(default=False, sa_column=_retired())
    # What the platform last reported (POST /api/v1/accounts/{id}/state): why it switched the account, and when.
    state_reason: str | None = Field(default=None, max_length=300)
    state_reported_at: datetime | None = Field(default=None, sa_column=_dt())


# Where renewals of a token are delivered (the import file's connectors:). `config` is the entry's other
# fields as the type checked them; a signing secret is named by its environment variable, never stored.
class Connector(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=60)
    config: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# A credential that expires. The secret is only ever stored Fernet-encrypted.
# `version` grows with each change so a stale or doubled renewal is refused.
class Token(SQLModel, table=True):
    __table_args__ = (
        # Start-up key checks look only at tokens holding a secret.
        Index("ix_token_secret", "id", sqlite_where=text("secret_encrypted IS NOT NULL"),
              postgresql_where=text("secret_encrypted IS NOT NULL")),
        # Every scan reads the tokens with a source: as many rows as they are, not the whole table.
        Index("ix_token_source", "id", sqlite_where=text("source IS NOT NULL"),
              postgresql_where=text("source IS NOT NULL")),
        # The pickers' type-ahead (options loads) seeks names by prefix here instead of reading every token.
        Index("ix_token_lower_name", func.lower(text("name"))),
        # Follow-ups read the tokens near or past expiry, and each channel's digest its tokens by expiry.
        Index("ix_token_expires_at", "expires_at"),
        Index("ix_token_channel_expires_at", "channel", "expires_at"),
    )
    id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=40)
    name: str
    expires_at: datetime = Field(sa_column=_dt(nullable=False))
    # expires_at minus the furthest threshold: the scan reads only tokens past it.
    notify_from: datetime = Field(sa_column=_dt(nullable=False, index=True))
    channel: str = Field(max_length=40)
    owners: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    app_id: str | None = None
    notify_days: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    secret_encrypted: str | None = None
    # Which key encrypted the secret (a short fingerprint of it, never the key): start-up checks every
    # distinct value against the configured keys through an index, instead of decrypting a sample.
    secret_key_id: str | None = Field(default=None, max_length=16, index=True)
    version: int = 1
    retired: bool = Field(default=False, sa_column=_retired())
    connector: str | None = Field(default=None, max_length=200)  # Connector.id its renewals go to
    verify_url: str | None = None  # GET with the new secret as Bearer before a renewal is saved
    # tls://host:port: the expiry is read from the certificate served there at every scan.
    source: str | None = None
    # False until a source was first read: expires_at and notify_from then hold UNKNOWN_EXPIRY (no notices).
    expiry_known: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true(),
                                                               default=True))
    source_checked_at: datetime | None = Field(default=None, sa_column=_dt())  # the last read, good or bad
    source_error: str | None = None  # why the last read failed; None after a good one
    source_subject: str | None = None  # the certificate last seen there
    source_issuer: str | None = None
    # Amazon marketplace code (uk, de, us, ...): steps and the form link to its Seller Central.
    marketplace: str | None = Field(default=None, max_length=10)
    # Who is told at expiry when nobody renewed: a user group (S…), "channel" (<!channel>); else the owners.
    escalate_to: str | None = Field(default=None, max_length=40)
    # Muted: no notices, reminders or escalations while expires_at == muted_expiry (a new expiry ends it).
    muted_expiry: datetime | None = Field(default=None, sa_column=_dt())
    muted_by: str | None = Field(default=None, max_length=40)
    muted_at: datetime | None = Field(default=None, sa_column=_dt())
    mute_reason: str | None = Field(default=None, max_length=300)
    # The Amazon seller this SP-API authorization is for: an authorization returning another seller is refused.
    selling_partner_id: str | None = Field(default=None, max_length=64)


# Which accounts a token serves, in the import file's order.
class TokenAccount(SQLModel, table=True):
    token_id: str = Field(foreign_key="token.id", primary_key=True, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", primary_key=True)
    position: int = 0


class NoticeState(StrEnum):
    """Stored as its text, so the column and older rows read the same."""
    PENDING = "pending"  # planned, waiting to be posted (or to be retried after next_attempt_at)
    SENDING = "sending"  # claimed by one process until claimed_until
    SENT = "sent"
    FAILED = "failed"  # Slack refused it for good (channel_not_found, ...): shown in status
    CLOSED = "closed"  # the token was renewed
    SUPERSEDED = "superseded"  # a nearer stage replaced it, or the expiry changed

    @classmethod
    def open(cls) -> tuple[NoticeState, ...]:
        """Still about the token's current expiry: may be posted or answered in."""
        return (cls.PENDING, cls.SENDING, cls.SENT)


# One notice per token, expiry and threshold crossing: the record of what was
# (or is to be) posted. The unique key is what makes planning idempotent.
# state: pending -> sending (claimed until claimed_until) -> sent | failed;
# any open one -> closed (renewed) or superseded (expiry changed by import).
class Notice(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("token_id", "expires_at", "stage", name="uq_notice_crossing"),
        Index("ix_notice_state_next", "state", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(foreign_key="token.id", index=True, ondelete="CASCADE")
    expires_at: datetime = Field(sa_column=_dt(nullable=False))
    stage: str = Field(max_length=20)  # "30d", "14d", ... or "expired"
    state: str = Field(default=NoticeState.PENDING, max_length=20)
    channel: str = Field(max_length=40)
    ts: str | None = None  # this notice's own message
    root_ts: str | None = None  # the thread it lives in (the token's first notice for this expiry)
    # Asked once (chat.getPermalink) when posted, so the Home tab and lists link to it without a call per row.
    permalink: str | None = None
    # "I'm on it": stops escalation for this threshold.
    acked_by: str | None = Field(default=None, max_length=40)
    acked_at: datetime | None = Field(default=None, sa_column=_dt())
    # No reminder or escalation about this threshold before then (never past the expiry).
    snoozed_until: datetime | None = Field(default=None, sa_column=_dt())
    snoozed_by: str | None = Field(default=None, max_length=40)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_dt())
    claimed_until: datetime | None = Field(default=None, sa_column=_dt())
    last_error: str | None = None
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_dt())
    closed_at: datetime | None = Field(default=None, sa_column=_dt())


# A thread reply planned like a notice, under a unique key so replicas and restarts send it once:
# kind "escalation" (key: the stage, e.g. "3d"), "expiry" (key "expired": the escalation at expiry) or
# "reminder" (key: the day, YYYY-MM-DD). state: pending -> sending -> sent | failed, or closed when it is
# found unneeded at send time (renewed, retired, muted, acknowledged; last_error says which).
class Followup(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("token_id", "expires_at", "kind", "key", name="uq_followup_key"),
        Index("ix_followup_state_next", "state", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(foreign_key="token.id", index=True, ondelete="CASCADE")
    expires_at: datetime = Field(sa_column=_dt(nullable=False))
    kind: str = Field(max_length=20)
    key: str = Field(max_length=20)
    state: str = Field(default=NoticeState.PENDING, max_length=20)
    channel: str = Field(max_length=40)
    thread_ts: str | None = None  # the notice thread it answers in
    ts: str | None = None
    due_at: datetime = Field(sa_column=_dt(nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_dt())
    claimed_until: datetime | None = Field(default=None, sa_column=_dt())
    last_error: str | None = None
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_dt())


# A renewal waiting for its secret from outside Slack: Amazon's authorization (kind "amazon", keyed by the
# OAuth state) or the one-time private page (kind "page", keyed by the link's id). Only a SHA-256 of the state
# or id is stored; `choices` holds what the person chose in the form (accounts, flags, expiry), never a secret.
# Used once: used_at is set by the request that applies the renewal.
class PendingRenewal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=20)
    token_id: str = Field(max_length=200, index=True)
    token_version: int
    user_id: str = Field(max_length=40)
    choices: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    thread_channel: str | None = Field(default=None, max_length=40)  # where the form was opened from
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    expires_at: datetime = Field(sa_column=_dt(nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=_dt())
    # An Amazon callback exchanging this state's code holds it until then (every replica sees it): a code spent
    # twice can make Amazon revoke what it issued.
    claimed_until: datetime | None = Field(default=None, sa_column=_dt())


# The attention audit: who acknowledged, snoozed, muted or unmuted what, and when. Never updated or deleted;
# no foreign key, like Renewal, so it outlives its token.
class TokenEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(index=True)
    action: str = Field(max_length=20)  # "acknowledged", "snoozed", "muted", "unmuted"
    by: str = Field(max_length=40)
    at: datetime = Field(sa_column=_dt(nullable=False))
    expires_at: datetime = Field(sa_column=_dt(nullable=False))  # the expiry it was about
    stage: str | None = Field(default=None, max_length=20)  # the notice's threshold, for acknowledge and snooze
    detail: str | None = Field(default=None, max_length=300)  # snoozed until ..., the mute reason


# The weekly digest: one per channel and ISO week ("2027-W03"); a week missed while down is posted late.
class Digest(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("channel", "week", name="uq_digest_week"),
        Index("ix_digest_state_next", "state", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=40)
    week: str = Field(max_length=10)
    state: str = Field(default=NoticeState.PENDING, max_length=20)
    ts: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_dt())
    claimed_until: datetime | None = Field(default=None, sa_column=_dt())
    last_error: str | None = None
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_dt())


# The audit trail: one row per renewal, never updated, never deleted. No foreign key on purpose:
# the audit outlives anything that happens to its token.
class Renewal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(index=True)
    renewed_by: str
    renewed_at: datetime = Field(sa_column=_dt(nullable=False))
    old_expires_at: datetime = Field(sa_column=_dt(nullable=False))
    new_expires_at: datetime = Field(sa_column=_dt(nullable=False))
    # [{"id", "name", "reenabled", "enabled", "fetch_orders"}], as set by this renewal
    accounts: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # How the new credential was checked before saving: "verified", "unverified: <why>", or None (nothing to check).
    verification: str | None = None
    # None: a person in Slack. "tls://host:port": seen renewed at its source, outside renewbot.
    via: str | None = None


class DeliveryState(StrEnum):
    PENDING = "pending"  # planned in the renewal's transaction, waiting (or to be retried after next_attempt_at)
    SENDING = "sending"  # claimed by one process until claimed_until
    DELIVERED = "delivered"  # the receiver took it: never sent again
    FAILED = "failed"  # refused for good, or retried for 24 hours: a person must do it by hand
    SUPERSEDED = "superseded"  # a newer renewal of the same token replaced it before it was delivered

    @classmethod
    def open(cls) -> tuple[DeliveryState, ...]:
        return (cls.PENDING, cls.SENDING)


# The connector outbox: one row per renewal and connector, planned in the renewal's transaction. The body
# is built at send time from the encrypted token, so no secret is stored here. `delivery_id` is the
# Renewbot-Delivery header: the same on every attempt.
class Delivery(SQLModel, table=True):
    __table_args__ = (
        Index("ix_delivery_state_next", "state", "next_attempt_at"),
        UniqueConstraint("renewal_id", "connector_id", name="uq_delivery_renewal_connector"),
    )
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64, unique=True)
    renewal_id: int = Field(index=True)
    token_id: str = Field(max_length=200, index=True)
    connector_id: str = Field(max_length=200)
    state: str = Field(default=DeliveryState.PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_dt())
    claimed_until: datetime | None = Field(default=None, sa_column=_dt())
    give_up_at: datetime = Field(sa_column=_dt(nullable=False))  # retried until then, then failed
    last_error: str | None = None
    # [{"id", "ok", "error"}] as the receiver answered
    result: list[dict] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_dt())
    # Where the renewal was confirmed in Slack, to answer in the same thread (and edit the confirmation).
    reply_channel: str | None = Field(default=None, max_length=40)
    reply_thread_ts: str | None = None
    confirmation_ts: str | None = None


# "Done in the platform": who confirmed by hand that a renewal without a connector reached the platform.
class PlatformConfirmation(SQLModel, table=True):
    renewal_id: int = Field(primary_key=True)
    confirmed_by: str
    confirmed_at: datetime = Field(sa_column=_dt(nullable=False))


# Keys for the inbound API (/api/v1/..., /calendar.ics). Only a SHA-256 of the key is stored; the key is
# printed once, at creation. Revoked keys stay, for the record.
class ApiKey(SQLModel, table=True):
    __table_args__ = (
        # One live key per name, decided by the database: two `api-key create` at once cannot both win.
        Index("uq_apikey_live_name", "name", unique=True, sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)  # unique among keys not revoked (checked on create)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=_dt(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_dt())


# Who opened renewbot's Home tab, and when: after a renewal their Home is published again while it is recent.
class HomeView(SQLModel, table=True):
    user_id: str = Field(primary_key=True, max_length=40)
    opened_at: datetime = Field(sa_column=_dt(nullable=False, index=True))


# Things that must happen at most once, across replicas: a Slack request already handled (replays), a
# message already sent (a DM to owners). The primary key decides; rows past expires_at may be pruned.
class Once(SQLModel, table=True):
    key: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(sa_column=_dt(nullable=False, index=True))
