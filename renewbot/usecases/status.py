"""`renewbot status`: tokens and accounts as a person (or a script) wants to see them. No secrets.

`collect` reads a fixed number of queries whatever the number of tokens. `Status.to_json()` is
the contract of `status --json` (scripts and tests read it): its keys and their order do not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session

from renewbot.domain.thresholds import days_left
from renewbot.usecases.failures import fix_for
from renewbot.usecases.kinds import ladders, token_stage
from storage import notices, queries
from storage.models import Account, Notice, Token


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

    @classmethod
    def of(cls, notice: Notice) -> OpenNotice:
        return cls(id=notice.id, stage=notice.stage, state=notice.state, channel=notice.channel, ts=notice.ts)


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
class TokenStatus:
    id: str
    name: str
    kind: str
    expires_at: datetime
    days_left: int
    stage: str
    open_notice: OpenNotice | None
    failed_notices: tuple[FailedNotice, ...]
    channel: str
    owners: tuple[str, ...]
    accounts: tuple[str, ...]  # account ids, in the import file's order
    app_id: str | None
    has_secret: bool

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "kind": self.kind,
            "expires_at": self.expires_at.isoformat(),
            "days_left": self.days_left,
            "stage": self.stage,
            "open_notice": None if self.open_notice is None else self.open_notice.to_json(),
            "failed_notices": [n.to_json() for n in self.failed_notices],
            "channel": self.channel, "owners": list(self.owners), "accounts": list(self.accounts),
            "app_id": self.app_id, "has_secret": self.has_secret,
        }


@dataclass(frozen=True)
class AccountStatus(_FlatRecord):
    id: str
    name: str
    enabled: bool
    fetch_orders: bool
    settings_url: str | None

    @classmethod
    def of(cls, account: Account) -> AccountStatus:
        return cls(id=account.id, name=account.name, enabled=account.enabled, fetch_orders=account.fetch_orders,
                   settings_url=account.settings_url)


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
    return Status(
        tokens=tuple(_token_status(t, now=now, accounts=links[t.id], open_notices=open_by_token[t.id],
                                   failed=failed_by_token.get(t.id, []), kind_ladders=kind_ladders)
                     for t in tokens),
        accounts=accounts,
    )


def _token_status(token: Token, *, now: datetime, accounts: list[Account], open_notices: list[Notice],
                  failed: list[Notice], kind_ladders: Mapping[str, tuple[int, ...]]) -> TokenStatus:
    # Only what is about the current expiry: older notices belong to an expiry that was renewed away.
    current = [n for n in open_notices if n.expires_at == token.expires_at]
    return TokenStatus(
        id=token.id, name=token.name, kind=token.kind,
        expires_at=token.expires_at,
        days_left=days_left(token.expires_at, now),
        stage=token_stage(token, now, kind_ladders),
        open_notice=OpenNotice.of(current[-1]) if current else None,
        failed_notices=tuple(FailedNotice.of(n) for n in failed if n.expires_at == token.expires_at),
        channel=token.channel, owners=tuple(token.owners), accounts=tuple(a.id for a in accounts),
        app_id=token.app_id, has_secret=token.secret_encrypted is not None,
    )


def render_text(status: Status) -> str:
    lines = ["TOKEN                          KIND           EXPIRES     STAGE     NOTICE"]
    for t in status.tokens:
        notice = f"{t.open_notice.stage} {t.open_notice.state}" if t.open_notice else "-"
        if t.failed_notices:
            notice += f" (failed: {t.failed_notices[-1].error})"
        lines.append(f"{t.id[:30]:<30} {t.kind:<14} {t.expires_at.isoformat()[:10]}  {t.stage:<9} {notice}")
        if t.failed_notices:
            lines.append(f"{'':<30} fix: {t.failed_notices[-1].fix}")
    lines.append("")
    lines.append("ACCOUNT                        ENABLED  FETCH ORDERS")
    for a in status.accounts:
        enabled = "yes" if a.enabled else "no"
        fetch_orders = "yes" if a.fetch_orders else "no (don't fetch)"
        lines.append(f"{a.id[:30]:<30} {enabled:<8} {fetch_orders}")
    return "\n".join(lines)
