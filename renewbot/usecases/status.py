"""`renewbot status`: tokens and accounts as a person (or a script) wants to see them. No secrets.

`collect` reads a fixed number of queries whatever the number of tokens. `Status.to_json()` is
the contract of `status --json` (scripts and tests read it): its keys and their order do not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlmodel import Session

from renewbot.domain.thresholds import days_left
from renewbot.usecases.attention import Attention
from renewbot.usecases.failures import fix_for
from renewbot.usecases.kinds import ladders, token_stage
from storage import deliveries, notices, queries
from storage.attention import is_muted
from storage.models import Account, Delivery, DeliveryState, Notice, Token

UNKNOWN = "unknown"  # the expiry and stage of a token whose source was not read yet


class _FlatRecord:
    """A dataclass whose fields are named and ordered as its JSON keys: asdict is its JSON."""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OpenNotice(_FlatRecord):
    """The latest notice still open about the token's current expiry."""
    id: int
    stage: str
    state: str
    channel: str
    ts: str | None
    # Attention: only a notice someone acknowledged or snoozed carries these keys (the others keep theirs).
    acked_by: str | None = None
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None  # only while it lasts
    snoozed_by: str | None = None

    @classmethod
    def of(cls, notice: Notice, now: datetime) -> OpenNotice:
        snooze = Attention.at(now, snoozed_until=notice.snoozed_until, snoozed_by=notice.snoozed_by)
        return cls(id=notice.id, stage=notice.stage, state=notice.state, channel=notice.channel, ts=notice.ts,
                   acked_by=notice.acked_by, acked_at=notice.acked_at,
                   snoozed_until=snooze.snoozed_until, snoozed_by=snooze.snoozed_by)

    def to_json(self) -> dict:
        out = {"id": self.id, "stage": self.stage, "state": self.state, "channel": self.channel, "ts": self.ts}
        if self.acked_at is not None:
            out.update(acked_by=self.acked_by, acked_at=self.acked_at.isoformat())
        if self.snoozed_until is not None:
            out.update(snoozed_until=self.snoozed_until.isoformat(), snoozed_by=self.snoozed_by)
        return out

    def attention(self) -> list[str]:
        """status's lines about who is on it."""
        lines = []
        if self.acked_at is not None:
            lines.append(f"acknowledged by {self.acked_by} at {self.acked_at:%Y-%m-%d %H:%M} UTC")
        if self.snoozed_until is not None:
            lines.append(f"snoozed until {self.snoozed_until:%Y-%m-%d %H:%M} UTC by {self.snoozed_by}")
        return lines


@dataclass(frozen=True)
class MuteStatus(_FlatRecord):
    """Muted: no notices, reminders or escalations until the expiry changes."""
    by: str | None
    at: datetime | None
    reason: str | None

    def to_json(self) -> dict:
        return {"by": self.by, "at": None if self.at is None else self.at.isoformat(), "reason": self.reason}

    def describe(self) -> str:
        when = f" since {self.at:%Y-%m-%d %H:%M} UTC" if self.at is not None else ""
        return f"muted by {self.by} ({self.reason or 'no reason given'}){when}: no notices until its expiry changes"


@dataclass(frozen=True)
class FailedNotice(_FlatRecord):
    """A notice Slack refused, about the token's current expiry, with what a person does about it."""
    id: int
    stage: str
    error: str | None
    fix: str  # one line; added after the others, so the earlier keys keep their order

    @classmethod
    def of(cls, notice: Notice) -> FailedNotice:
        return cls(id=notice.id, stage=notice.stage, error=notice.last_error,
                   fix=fix_for(notice.last_error, notice.channel))


@dataclass(frozen=True)
class SourceStatus:
    """Where the token's expiry is read from (tls://host:port) and what the last read said."""
    url: str
    checked_at: datetime | None  # the last read, good or bad; None before the first
    error: str | None  # why the last read failed, or a warning about what it saw; None after a clean read
    subject: str | None  # the certificate last seen there
    issuer: str | None

    def to_json(self) -> dict:
        return {"url": self.url, "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
                "error": self.error, "subject": self.subject, "issuer": self.issuer}

    def describe(self, expiry_known: bool) -> list[str]:
        """status's lines about it: the wait for a first read, the last error (or warning) and its time."""
        lines = [] if expiry_known else [f"expiry unknown (waiting for the first read of {self.url})"]
        if self.error is not None and self.checked_at is not None:
            lines.append(f"{self.url} at {self.checked_at:%Y-%m-%d %H:%M} UTC: {self.error}")
        return lines


@dataclass(frozen=True)
class DeliveryStatus(_FlatRecord):
    """A renewal on its way to the token's connector, or one that failed there (a person must do it by hand)."""
    delivery_id: str
    connector: str
    state: str
    attempts: int
    error: str | None
    next_attempt_at: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryStatus:
        retry = delivery.next_attempt_at if delivery.state == DeliveryState.PENDING else None
        return cls(delivery_id=delivery.delivery_id, connector=delivery.connector_id, state=delivery.state,
                   attempts=delivery.attempts, error=delivery.last_error,
                   next_attempt_at=None if retry is None else retry.isoformat())

    def describe(self) -> str:
        if self.state == DeliveryState.FAILED:
            return (f"delivery to {self.connector} failed ({self.error}): paste the new token into the platform "
                    "by hand")
        tried = f", attempt {self.attempts} said {self.error}" if self.error else ""
        return f"delivery to {self.connector} {self.state}{tried}"


@dataclass(frozen=True)
class TokenStatus:
    id: str
    name: str
    kind: str
    expires_at: datetime | None  # None while a source has not been read yet (expiry_known False)
    days_left: int | None
    stage: str
    open_notice: OpenNotice | None
    failed_notices: tuple[FailedNotice, ...]
    channel: str
    owners: tuple[str, ...]
    accounts: tuple[str, ...]  # account ids, in the import file's order
    app_id: str | None
    has_secret: bool
    expiry_known: bool = True
    source: SourceStatus | None = None
    deliveries: tuple[DeliveryStatus, ...] = ()  # to its connector: pending, in flight or failed
    muted: MuteStatus | None = None  # only while the mute holds (its expiry unchanged)

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "kind": self.kind,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "days_left": self.days_left,
            "stage": self.stage,
            "open_notice": None if self.open_notice is None else self.open_notice.to_json(),
            "failed_notices": [n.to_json() for n in self.failed_notices],
            "channel": self.channel, "owners": list(self.owners), "accounts": list(self.accounts),
            "app_id": self.app_id, "has_secret": self.has_secret,
            # Only tokens read from a source carry these: every other token's keys stay as they were.
            **({} if self.source is None else {"expiry_known": self.expiry_known, "source": self.source.to_json()}),
            **({"deliveries": [d.to_json() for d in self.deliveries]} if self.deliveries else {}),
            **({"muted": self.muted.to_json()} if self.muted is not None else {}),
        }


@dataclass(frozen=True)
class AccountStatus(_FlatRecord):
    id: str
    name: str
    enabled: bool
    fetch_orders: bool
    settings_url: str | None
    # What the platform last reported (POST /api/v1/accounts/{id}/state): why, and when it changed the account.
    state_reason: str | None = None
    state_reported_at: datetime | None = None

    @classmethod
    def of(cls, account: Account) -> AccountStatus:
        return cls(id=account.id, name=account.name, enabled=account.enabled, fetch_orders=account.fetch_orders,
                   settings_url=account.settings_url, state_reason=account.state_reason,
                   state_reported_at=account.state_reported_at)

    def to_json(self) -> dict:
        out = {"id": self.id, "name": self.name, "enabled": self.enabled, "fetch_orders": self.fetch_orders,
               "settings_url": self.settings_url}
        if self.state_reported_at is not None:  # only reported accounts carry these: others' keys stay as they were
            out.update(state_reason=self.state_reason, state_reported_at=self.state_reported_at.isoformat())
        return out

    def reported(self) -> str | None:
        """status's line for an account the platform switched off: why, and since when. Once it is on again
        (reported, or re-enabled by a renewal since) the old reason no longer describes it."""
        if self.enabled or self.state_reported_at is None:
            return None
        return (f"off by the platform since {self.state_reported_at:%Y-%m-%d %H:%M} UTC: "
                f"{self.state_reason or 'no reason given'}")


@dataclass(frozen=True)
class Status:
    tokens: tuple[TokenStatus, ...]
    accounts: tuple[AccountStatus, ...]

    def to_json(self) -> dict:
        return {"tokens": [t.to_json() for t in self.tokens], "accounts": [a.to_json() for a in self.accounts]}


def collect(*, session: Session, now: datetime) -> Status:
    tokens = queries.list_tokens(session=session)
    token_ids = [t.id for t in tokens]
    links = queries.accounts_by_token(session=session, token_ids=token_ids)
    open_by_token = notices.open_notices_by_token(session=session, token_ids=token_ids)
    failed_by_token: dict[str, list[Notice]] = {}
    for n in notices.failed_notices(session=session):
        failed_by_token.setdefault(n.token_id, []).append(n)
    accounts = tuple(AccountStatus.of(a) for a in queries.list_accounts(session=session))
    kind_ladders = ladders(session=session)
    unfinished = deliveries.unfinished_by_token(session=session, token_ids=token_ids)
    return Status(
        tokens=tuple(replace(_token_status(t, now=now, accounts=links[t.id], open_notices=open_by_token[t.id],
                                           failed=failed_by_token.get(t.id, []), kind_ladders=kind_ladders),
                             deliveries=tuple(DeliveryStatus.of(d) for d in unfinished[t.id]))
                     for t in tokens),
        accounts=accounts,
    )


def _token_status(token: Token, *, now: datetime, accounts: list[Account], open_notices: list[Notice],
                  failed: list[Notice], kind_ladders: Mapping[str, tuple[int, ...]]) -> TokenStatus:
    # Only what is about the current expiry: older notices belong to an expiry that was renewed away.
    current = [n for n in open_notices if n.expires_at == token.expires_at]
    known = token.expiry_known
    return TokenStatus(
        id=token.id, name=token.name, kind=token.kind,
        expires_at=token.expires_at if known else None,
        days_left=days_left(token.expires_at, now) if known else None,
        stage=token_stage(token, now, kind_ladders) if known else UNKNOWN,
        open_notice=OpenNotice.of(current[-1], now) if current else None,
        failed_notices=tuple(FailedNotice.of(n) for n in failed if n.expires_at == token.expires_at),
        channel=token.channel, owners=tuple(token.owners), accounts=tuple(a.id for a in accounts),
        app_id=token.app_id, has_secret=token.secret_encrypted is not None,
        expiry_known=known, source=_source_status(token),
        muted=MuteStatus(by=token.muted_by, at=token.muted_at, reason=token.mute_reason) if is_muted(token) else None,
    )


def _source_status(token: Token) -> SourceStatus | None:
    if token.source is None:
        return None
    return SourceStatus(url=token.source, checked_at=token.source_checked_at, error=token.source_error,
                        subject=token.source_subject, issuer=token.source_issuer)


def render_text(status: Status) -> str:
    lines = ["TOKEN                          KIND           EXPIRES     STAGE     NOTICE"]
    for t in status.tokens:
        notice = f"{t.open_notice.stage} {t.open_notice.state}" if t.open_notice else "-"
        if t.failed_notices:
            notice += f" (failed: {t.failed_notices[-1].error})"
        expires = t.expires_at.isoformat()[:10] if t.expires_at is not None else UNKNOWN
        lines.append(f"{t.id[:30]:<30} {t.kind:<14} {expires:<10}  {t.stage:<9} {notice}")
        if t.failed_notices:
            lines.append(f"{'':<30} fix: {t.failed_notices[-1].fix}")
        if t.source is not None:
            lines.extend(f"{'':<30} {line}" for line in t.source.describe(t.expiry_known))
        lines.extend(f"{'':<30} {d.describe()}" for d in t.deliveries)
        if t.muted is not None:
            lines.append(f"{'':<30} {t.muted.describe()}")
        if t.open_notice is not None:
            lines.extend(f"{'':<30} {line}" for line in t.open_notice.attention())
    lines.append("")
    lines.append("ACCOUNT                        ENABLED  FETCH ORDERS")
    for a in status.accounts:
        enabled = "yes" if a.enabled else "no"
        fetch_orders = "yes" if a.fetch_orders else "no (don't fetch)"
        lines.append(f"{a.id[:30]:<30} {enabled:<8} {fetch_orders}")
        if a.reported():
            lines.append(f"{'':<30} {a.reported()}")
    return "\n".join(lines)
