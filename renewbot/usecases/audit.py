"""`renewbot audit`: who renewed what, when, old → new expiry and what was done to the accounts. No secrets.

Every renewal is listed, retired tokens' and deleted tokens' too (the audit outlives its token).
`AuditEntry.to_json()` is the contract of `audit --json`; CSV_FIELDS is the header of `audit --csv`.
The text output adds a section of attention events (acknowledged, snoozed, muted, unmuted: TokenEvent rows)
after the renewals; --json and --csv list renewals only, as before.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from storage import attention, lifecycle

CSV_FIELDS = ("renewed_at", "token_id", "token_name", "renewed_by", "old_expires_at", "new_expires_at", "accounts")
NOTHING = "no renewals recorded"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def accounts_summary(accounts: list[dict]) -> str:
    """One line: "amazon-uk re-enabled, amazon-de re-enabled + don't fetch, amazon-fr enabled"."""
    parts = []
    for account in accounts:
        flags = ["re-enabled" if account.get("reenabled") else "enabled" if account.get("enabled") else "disabled"]
        if account.get("fetch_orders") is False:
            flags.append("don't fetch")
        parts.append(f"{account.get('id')} {' + '.join(flags)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class AuditEntry:
    renewed_at: datetime
    token_id: str
    token_name: str | None  # None once the token row is gone
    renewed_by: str
    old_expires_at: datetime
    new_expires_at: datetime
    accounts: tuple[dict, ...]  # as stored: {"id", "name", "reenabled", "enabled", "fetch_orders"}
    via: str | None = None  # "tls://host:port": seen renewed at the token's source, not by a person in Slack

    @property
    def by(self) -> str:
        """Who renewed, for people: a Slack user, or where a renewal outside renewbot was seen."""
        # A source's address ("tls://…"); "page" and "amazon" name how a person in Slack gave the secret.
        return f"seen at {self.via} (outside renewbot)" if self.via and "://" in self.via else self.renewed_by

    def to_json(self) -> dict:
        return {
            "renewed_at": _iso(self.renewed_at), "token_id": self.token_id, "token_name": self.token_name,
            "renewed_by": self.renewed_by, "old_expires_at": _iso(self.old_expires_at),
            "new_expires_at": _iso(self.new_expires_at), "accounts": list(self.accounts),
            **({"via": self.via} if self.via else {}),  # only on renewals seen at a source: the others keep their keys
        }

    def csv_row(self) -> list[str]:
        values = {**self.to_json(), "token_name": self.token_name or "", "renewed_by": self.by,
                  "accounts": accounts_summary(self.accounts)}
        return [values[field] for field in CSV_FIELDS]


def collect(*, session: Session, token_id: str | None = None) -> list[AuditEntry]:
    return [
        AuditEntry(renewed_at=r.renewed_at, token_id=r.token_id, token_name=name, renewed_by=r.renewed_by,
                   old_expires_at=r.old_expires_at, new_expires_at=r.new_expires_at, accounts=tuple(r.accounts),
                   via=r.via)
        for r, name in lifecycle.renewal_history(session=session, token_id=token_id)
    ]


def render_csv(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    writer.writerows(entry.csv_row() for entry in entries)
    return out.getvalue()


def render_text(entries: list[AuditEntry]) -> str:
    """An aligned table, one renewal a line; "no renewals recorded" when there are none."""
    if not entries:
        return NOTHING
    rows = [("RENEWED AT (UTC)", "TOKEN", "BY", "EXPIRY", "ACCOUNTS")]
    rows += [(_iso(e.renewed_at), e.token_id, e.by,
              f"{e.old_expires_at.astimezone(UTC):%Y-%m-%d} → {e.new_expires_at.astimezone(UTC):%Y-%m-%d}",
              accounts_summary(e.accounts) or "-") for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[4]])
                     for row in rows)


@dataclass(frozen=True)
class AttentionEntry:
    """Who acknowledged, snoozed, muted or unmuted a token's notices (a TokenEvent row)."""
    at: datetime
    token_id: str
    action: str
    by: str
    expires_at: datetime  # the expiry it was about
    stage: str | None
    detail: str | None


def collect_attention(*, session: Session, token_id: str | None = None) -> list[AttentionEntry]:
    return [AttentionEntry(at=e.at, token_id=e.token_id, action=e.action, by=e.by, expires_at=e.expires_at,
                           stage=e.stage, detail=e.detail)
            for e in attention.events(session=session, token_id=token_id)]


def render_attention(entries: list[AttentionEntry]) -> str:
    """An aligned table under its own heading; "" when there is nothing to show."""
    if not entries:
        return ""
    rows = [("AT (UTC)", "TOKEN", "ACTION", "BY", "EXPIRY", "STAGE", "DETAIL")]
    rows += [(_iso(e.at), e.token_id, e.action, e.by, f"{e.expires_at.astimezone(UTC):%Y-%m-%d}", e.stage or "-",
              " ".join((e.detail or "-").split())) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[6]]) for row in rows]
    return "\n".join(["ATTENTION (acknowledge, snooze, mute)", *lines])
