"""The inventory an import file describes, checked as data: no YAML, no database, no Slack.

Every problem is collected (not just the first), each naming its entry and line,
so a person can fix a file in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from renewbot.domain.patterns import CHANNEL_RE, CONTROL_RE, ID_RE, OWNER_RE, URL_RE

KINDS = ("amazon-mws", "amazon-sp-api", "generic")
MAX_TEXT = 200
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
ACCOUNT_KEYS = {"id", "name", "enabled", "fetch_orders", "settings_url"}
TOKEN_KEYS = {"id", "kind", "name", "expires_at", "channel", "owners", "accounts", "app_id", "notify_days"}




@dataclass(frozen=True)
class Inventory:
    """A checked file: entries by id, with values ready to store."""
    accounts: dict[str, dict]
    tokens: dict[str, dict]


def parse_expiry(value: Any) -> datetime:
    """A date (midnight UTC) or an ISO datetime; UTC when no offset is given."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD or an ISO 8601 datetime)") from None
    else:
        raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 datetime")
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{moment:%Y-%m-%d} is out of range (1970 to 8999)")
    return moment


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def where(self, section: str, index: int, item: Any, lines: list[int]) -> str:
        ident = item.get("id") if isinstance(item, dict) else None
        line = f", line {lines[index]}" if index < len(lines) else ""
        label = f" (id {ident!r}{line})" if isinstance(ident, str) else f" ({line.lstrip(', ')})" if line else ""
        return f"{section}[{index}]{label}"

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}")

    def text(self, where: str, item: dict, key: str, *, required: bool, pattern: re.Pattern | None = None,
             hint: str = "") -> str | None:
        value = item.get(key)
        if value is None:
            if required:
                self.add(where, f"{key} is missing")
            return None
        if not isinstance(value, str):
            self.add(where, f"{key} must be text, not {type(value).__name__}{hint}")
            return None
        if not value.strip() or (pattern is not None and (not pattern.fullmatch(value) or CONTROL_RE.search(value))):
            self.add(where, f"{key} {value[:80]!r} is not valid{hint}")
            return None
        if pattern is None and (len(value) > MAX_TEXT or CONTROL_RE.search(value)):
            self.add(where, f"{key} must be at most {MAX_TEXT} characters of plain text (no control characters)")
            return None
        return value

    def entries(self, section: str, raw: list, lines: list[int], keys: set[str], shape: str):
        """Yields (where, item, id) for each mapping entry; reports non-mappings and unknown fields."""
        for i, item in enumerate(raw):
            where = self.where(section, i, item, lines)
            if not isinstance(item, dict):
                self.add(where, f"each entry must be a mapping with {shape}")
                continue
            for key in sorted(set(item) - keys, key=repr):
                self.add(where, f"unknown field {key!r}")
            ident = self.text(where, item, "id", required=True, pattern=ID_RE,
                              hint=" (letters, digits, . _ : -, up to 150)")
            yield where, item, ident

    def flag(self, where: str, item: dict, key: str, default: bool) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            self.add(where, f"{key} must be true or false, not {value!r}")
            return default
        return value


def _check_accounts(raw: list, lines: list[int], c: _Checker) -> dict[str, dict]:
    accounts: dict[str, dict] = {}
    for where, item, ident in c.entries("accounts", raw, lines, ACCOUNT_KEYS, "id and name"):
        name = c.text(where, item, "name", required=True)
        url = c.text(where, item, "settings_url", required=False, pattern=URL_RE, hint=" (an http(s) URL)")
        enabled = c.flag(where, item, "enabled", True)
        fetch = c.flag(where, item, "fetch_orders", True)
        if ident is None:
            continue
        if ident in accounts:
            c.add(where, f"duplicate account id {ident!r}")
            continue
        accounts[ident] = dict(id=ident, name=name or ident, enabled=enabled, fetch_orders=fetch, settings_url=url)
    return accounts


def _check_tokens(raw: list, lines: list[int], c: _Checker, known_accounts: set[str]) -> dict[str, dict]:
    tokens: dict[str, dict] = {}
    for where, item, ident in c.entries("tokens", raw, lines, TOKEN_KEYS, "id, kind, name, expires_at and channel"):
        kind = c.text(where, item, "kind", required=True)
        if kind is not None and kind not in KINDS:
            c.add(where, f"unknown kind {kind!r} (use one of: {', '.join(KINDS)})")
        name = c.text(where, item, "name", required=True)
        channel = c.text(where, item, "channel", required=True, pattern=CHANNEL_RE,
                         hint=" (a Slack channel ID like C0123ABC)")
        app_id = c.text(where, item, "app_id", required=False, hint=' (quote numbers: app_id: "532089569783")')
        expires = None
        if "expires_at" not in item or item["expires_at"] is None:
            c.add(where, "expires_at is missing")
        else:
            try:
                expires = parse_expiry(item["expires_at"])
            except ValueError as exc:
                c.add(where, f"expires_at: {exc}")
        owners = item.get("owners", []) or []
        if not isinstance(owners, list) or not all(isinstance(o, str) and OWNER_RE.fullmatch(o) for o in owners):
            c.add(where, "owners must be a list of Slack user or user group IDs (U…, W… or S…)")
            owners = []
        refs = item.get("accounts", []) or []
        if not isinstance(refs, list) or not all(isinstance(a, str) for a in refs):
            c.add(where, "accounts must be a list of account ids")
            refs = []
        for ref in refs:
            if ref not in known_accounts:
                c.add(where, f"unknown account {ref!r} (not in this file's accounts nor already imported)")
        if len(set(refs)) != len(refs):
            c.add(where, "accounts lists the same account twice")
        days = item.get("notify_days")
        if days is not None and (not isinstance(days, list) or not days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 365 for d in days)):
            c.add(where, "notify_days must be a list of whole days between 1 and 365")
            days = None
        if ident is None:
            continue
        if ident in tokens:
            c.add(where, f"duplicate token id {ident!r}")
            continue
        tokens[ident] = dict(id=ident, kind=kind, name=name or ident, channel=channel, app_id=app_id,
                             expires_at=expires, owners=list(owners), accounts=list(dict.fromkeys(refs)),
                             notify_days=sorted(set(days), reverse=True) if days else None)
    return tokens


def check_inventory(data: Any, lines: dict[str, list[int]], *, known_accounts: set[str]) -> tuple[Inventory, list[str]]:
    """The checked inventory and every problem found. `lines` gives each section's entry lines;
    `known_accounts` are the account ids already stored, which tokens may name too."""
    if not isinstance(data, dict):
        return Inventory({}, {}), ["the file must be a mapping with 'accounts' and/or 'tokens' lists"]
    c = _Checker()
    for key in sorted(set(data) - {"accounts", "tokens"}, key=repr):
        c.add("top level", f"unknown section {key!r} (expected accounts and tokens)")
    raw_accounts, raw_tokens = data.get("accounts") or [], data.get("tokens") or []
    for section, raw in (("accounts", raw_accounts), ("tokens", raw_tokens)):
        if not isinstance(raw, list):
            c.add(section, "must be a list")
    accounts = _check_accounts(raw_accounts if isinstance(raw_accounts, list) else [], lines.get("accounts", []), c)
    tokens = _check_tokens(raw_tokens if isinstance(raw_tokens, list) else [], lines.get("tokens", []), c,
                           known_accounts | set(accounts))
    return Inventory(accounts, tokens), c.problems
