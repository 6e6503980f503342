"""The platform reports an account's state (POST /api/v1/accounts/{id}/state): read the report, store it in one
transaction, and say which Slack messages now show something stale.

The body is unauthenticated-shaped input even behind a key (a buggy script is as likely as a hostile one), so
`parse_report` accepts exactly `{"enabled": bool, "fetch_orders"?: bool, "reason"?: str | null}` and nothing
else: no other fields, no duplicate keys, no NaN, a short single-line reason.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from renewbot.domain.kinds import BUILTIN_KINDS, Kind, resolve
from renewbot.errors import RenewbotError
from renewbot.usecases.kinds import team_kinds
from storage import notices, queries
from storage.models import Account, Notice, Token

FIELDS = ("enabled", "fetch_orders", "reason")
MAX_REASON = 300  # Account.state_reason's column
# Characters a one-line plain-text reason has no use for: controls, unassigned, private use, surrogates,
# format characters (bidi overrides that reorder what a reader sees) and line/paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class ReportRejected(RenewbotError):
    """The body is not a state report; the message says what is wrong (and never echoes the body)."""


@dataclass(frozen=True)
class StateReport:
    enabled: bool
    fetch_orders: bool | None  # None: not reported, the stored flag stays
    reason: str | None


@dataclass(frozen=True)
class AccountState:
    """The account as stored after a report: the API's 200 body."""
    id: str
    name: str
    enabled: bool
    fetch_orders: bool
    reason: str | None
    reported_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> AccountState:
        return cls(id=account.id, name=account.name, enabled=account.enabled, fetch_orders=account.fetch_orders,
                   reason=account.state_reason, reported_at=account.state_reported_at)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "enabled": self.enabled, "fetch_orders": self.fetch_orders,
                "reason": self.reason,
                "reported_at": None if self.reported_at is None else self.reported_at.isoformat()}


@dataclass(frozen=True)
class Applied:
    account: AccountState
    changed: bool  # False: the report repeated what was stored, and nothing was written
    token_ids: tuple[str, ...]  # tokens in service that use the account: their open notices show it


@dataclass(frozen=True)
class NoticeEdit:
    """One posted message to re-render: the notice that last wrote it, with what it shows now."""
    channel: str
    ts: str
    token: Token
    accounts: tuple[Account, ...]
    stage: str
    kind: Kind
    notice: Notice | None = None  # the notice that last wrote it: its acknowledgement and snooze show too


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ReportRejected("a field appears twice")
    return dict(pairs)


def _no_constants(name: str):
    raise ReportRejected(f"{name} is not a JSON value")


def _reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportRejected("reason must be a string or null")
    value = value.strip()
    if len(value) > MAX_REASON:
        raise ReportRejected(f"reason is longer than {MAX_REASON} characters")
    if any(unicodedata.category(c) in REFUSED_CATEGORIES for c in value):
        raise ReportRejected("reason must be one line of plain text (no control or format characters)")
    return value or None


def parse_report(raw: bytes) -> StateReport:
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise ReportRejected("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ReportRejected('the body must be a JSON object: {"enabled": false, "reason": "..."}')
    unknown = sorted(k for k in data if k not in FIELDS)
    if unknown:
        raise ReportRejected(f"unknown field {unknown[0][:40]!r} (fields: {', '.join(FIELDS)})")
    if type(data.get("enabled")) is not bool:  # not isinstance: 0 and 1 are not answers here
        raise ReportRejected("enabled is required, true or false")
    fetch_orders = data.get("fetch_orders")
    if fetch_orders is not None and type(fetch_orders) is not bool:
        raise ReportRejected("fetch_orders must be true or false")
    return StateReport(enabled=data["enabled"], fetch_orders=fetch_orders, reason=_reason(data.get("reason")))


def apply_report(*, session: Session, account_id: str, report: StateReport, now: datetime) -> Applied | None:
    """Stores the report on the account; None when there is no such account in service.

    The reason and time are those of the last change: a report repeating the stored state writes nothing, so
    a platform that reports every few minutes does not move "since when" nor edit notices each time. A report
    without a reason clears the stored one, which described a state that no longer holds."""
    account = session.get(Account, account_id, with_for_update=True)
    if account is None or account.retired:
        return None
    fetch_orders = account.fetch_orders if report.fetch_orders is None else report.fetch_orders
    changed = (account.enabled, account.fetch_orders, account.state_reason) != (
        report.enabled, fetch_orders, report.reason)
    if changed:
        account.enabled, account.fetch_orders = report.enabled, fetch_orders
        account.state_reason, account.state_reported_at = report.reason, now
        session.add(account)
        session.flush()
    return Applied(account=AccountState.of(account), changed=changed,
                   token_ids=tuple(queries.token_ids_using(session=session, account_id=account_id)) if changed else ())


def notice_edits(*, session: Session, token_ids: Iterable[str]) -> list[NoticeEdit]:
    """The posted messages of these tokens' open notices, each with what to render it from.

    A later stage replies in the first notice's thread and rewrites that first message with its own content
    (jobs/deliver), so the thread's root is rendered from the newest notice in it; a reply, from its own.
    The caller renders them as of now: "N days left" is then true again, where the time a message was first
    worded is not stored (its sent_at is seconds later, and can fall on the other side of a day)."""
    token_ids = list(token_ids)
    if not token_ids:
        return []
    open_by_token = notices.open_notices_by_token(session=session, token_ids=token_ids)
    links = queries.accounts_by_token(session=session, token_ids=token_ids)
    tokens = {t.id: t for t in session.exec(select(Token).where(col(Token.id).in_(token_ids))).all()}
    # Read once for every token, and only when one of them has a kind the team defined.
    custom = team_kinds(session=session) if any(t.kind not in BUILTIN_KINDS for t in tokens.values()) else {}
    edits: list[NoticeEdit] = []
    for token_id in token_ids:
        token = tokens.get(token_id)
        if token is None or token.retired:
            continue
        governing: dict[tuple[str, str], Notice] = {}
        for n in open_by_token[token_id]:  # oldest first: a newer notice overrides the root's entry
            if n.ts is None or n.expires_at != token.expires_at:
                continue  # not posted yet (it will show the new state), or about an expiry renewed away
            governing[(n.channel, n.ts)] = n
            if n.root_ts and n.root_ts != n.ts:
                governing[(n.channel, n.root_ts)] = n
        if not governing:
            continue
        kind = resolve(token.kind, custom)
        for (channel, ts), n in governing.items():
            edits.append(NoticeEdit(channel=channel, ts=ts, token=token, accounts=tuple(links[token_id]),
                                    stage=n.stage, kind=kind, notice=n))
    return edits
