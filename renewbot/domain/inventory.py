"""The inventory an import file describes, checked as data: no YAML, no database, no Slack.

Every problem is collected (not just the first), each naming its entry and line,
so a person can fix a file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from renewbot.domain.kinds import BUILTIN_KINDS, resolve
from renewbot.domain.marketplaces import known_codes, marketplace
from renewbot.domain.patterns import CHANNEL_RE, CONTROL_RE, ID_RE, OWNER_RE, OWNER_WILDCARD, URL_RE
from renewbot.domain.thresholds import UNKNOWN_EXPIRY
from renewbot.domain.urls import secure_url_problem, tls_source

MAX_TEXT = 200
MAX_STEP_TEXT = 500
MAX_STEPS = 20
MAX_PATTERN = 500
# LATEST is the "not read yet" placeholder itself, so no date from a file can be mistaken for it.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), UNKNOWN_EXPIRY
SECTIONS = ("kinds", "connectors", "accounts", "tokens")
KIND_KEYS = {"id", "label", "pattern", "pattern_message", "lifetime_days", "notify_days", "steps", "reminder"}
ACCOUNT_KEYS = {"id", "name", "enabled", "fetch_orders", "settings_url", "retired"}
TOKEN_KEYS = {"id", "kind", "name", "expires_at", "channel", "owners", "accounts", "app_id", "notify_days",
              "retired", "connector", "verify_url", "source", "marketplace", "escalate_to", "selling_partner_id"}
# Amazon's seller ids (merchant tokens) are capitals and digits, e.g. A2EUQ1WTGCTBG2.
SELLING_PARTNER_ID_RE = re.compile(r"[A-Z0-9]{1,64}")
CONNECTOR_KEYS = {"id", "type"}  # the rest belong to the type, which checks them


class ConnectorTypeCheck:
    """What the checker needs of a connector type (renewbot.connectors.base.ConnectorType): its own fields' check."""

    def check(self, config: Mapping[str, Any]) -> list[str]:  # pragma: no cover - a protocol
        raise NotImplementedError




@dataclass(frozen=True)
class Inventory:
    """A checked file: entries by id, with values ready to store. `retired` is present only when the file says."""
    kinds: dict[str, dict]
    accounts: dict[str, dict]
    tokens: dict[str, dict]
    connectors: dict[str, dict] = field(default_factory=dict)


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
        raise ValueError(f"{moment:%Y-%m-%d} is out of range (1970 to {LATEST - timedelta(days=1):%Y-%m-%d})")
    return moment


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str | Callable[[], list[str]]] = []

    def where(self, section: str, index: int, item: Any, line: int | None) -> str:
        ident = item.get("id") if isinstance(item, dict) else None
        line_text = f", line {line}" if line is not None else ""
        label = (f" (id {ident!r}{line_text})" if isinstance(ident, str)
                 else f" ({line_text.lstrip(', ')})" if line_text else "")
        return f"{section}[{index}]{label}"

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}")

    def later(self, where: str, problem: Callable[[], str | None]) -> None:
        """A problem that depends on entries further on in the file (a token naming an account defined below it)."""
        self.problems.append(lambda: [f"{where}: {text}"] if (text := problem()) else [])

    def resolved(self) -> list[str]:
        return [p for entry in self.problems for p in ([entry] if isinstance(entry, str) else entry())]

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

    def entry(self, section: str, index: int, item: Any, line: int | None, keys: set[str],
              shape: str) -> tuple[str, dict, str | None] | None:
        """(where, item, id) for a mapping entry, None for anything else; reports non-mappings and unknown fields."""
        where = self.where(section, index, item, line)
        if not isinstance(item, dict):
            self.add(where, f"each entry must be a mapping with {shape}")
            return None
        for key in sorted(set(item) - keys, key=repr):
            self.add(where, f"unknown field {key!r}")
        ident = self.text(where, item, "id", required=True, pattern=ID_RE,
                          hint=" (letters, digits, . _ : -, up to 150)")
        return where, item, ident

    def flag(self, where: str, item: dict, key: str, default: bool) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            self.add(where, f"{key} must be true or false, not {value!r}")
            return default
        return value


def _ladder(c: _Checker, where: str, item: dict) -> list[int] | None:
    days = item.get("notify_days")
    if days is not None and (not isinstance(days, list) or not days or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 365 for d in days)):
        c.add(where, "notify_days must be a list of whole days between 1 and 365")
        return None
    return sorted(set(days), reverse=True) if days else None


def _marketplace(c: _Checker, where: str, item: dict) -> str | None:
    code = item.get("marketplace")
    if code is None:
        return None
    found = marketplace(code)
    if found is None:
        c.add(where, f"unknown marketplace {str(code)[:20]!r} (known: {known_codes()})")
        return None
    return found.code


def _escalate_to(c: _Checker, where: str, item: dict) -> str | None:
    """Who is told at expiry when nobody renewed: a user group id (S…), or the word channel (<!channel>)."""
    value = item.get("escalate_to")
    if value is None:
        return None
    if value == "channel" or (isinstance(value, str) and re.fullmatch(r"S[A-Z0-9]{2,38}", value)):
        return value
    c.add(where, f"escalate_to {str(value)[:40]!r} is not a user group id (S…) or the word channel")
    return None


def _selling_partner_id(c: _Checker, where: str, item: dict, kind: str | None) -> str | None:
    """The Amazon seller an SP-API re-authorization must come from (Amazon's ids: capitals and digits)."""
    value = item.get("selling_partner_id")
    if value is None:
        return None
    if not (isinstance(value, str) and SELLING_PARTNER_ID_RE.fullmatch(value)):
        c.add(where, f"selling_partner_id {str(value)[:70]!r} is not an Amazon seller id (1 to 64 capital letters "
                     "and digits, e.g. A2EXAMPLE1SELLER)")
        return None
    if kind is not None and resolve(kind).authorization is None:
        c.add(where, f"selling_partner_id is only for tokens renewed through Amazon's authorization "
                     f"(kind amazon-sp-api), not kind {kind!r}")
        return None
    return value


def _retired(c: _Checker, where: str, item: dict) -> dict:
    return {"retired": c.flag(where, item, "retired", False)} if "retired" in item else {}


class InventoryChecker:
    """Checks a file entry by entry, in the order a reader meets them (the importer streams a large file
    through it); `finish` gives the inventory and every problem, in the same order whatever the file's order:
    top level, then kinds, accounts and tokens. A token may name a kind or account defined further on.

    Equal short texts (kinds, channels, owners, account ids), expiries and ladders are shared between
    entries rather than copied, which keeps a million tokens in memory affordable: treat the values as read-only.
    """

    def __init__(self, *, known_accounts: set[str], known_kinds: set[str] = frozenset(),
                 known_connectors: set[str] = frozenset(),
                 connector_types: Mapping[str, ConnectorTypeCheck] | None = None) -> None:
        self.kinds: dict[str, dict] = {}
        self.connectors: dict[str, dict] = {}
        self._connector_ids = set(known_connectors)
        self._connector_types = dict(connector_types or {})
        self.accounts: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self._unknown: list[Any] = []
        self._not_lists: set[str] = set()
        self._checkers = {section: _Checker() for section in SECTIONS}
        self._account_ids = set(known_accounts)  # grows with the file's own accounts
        self._kind_ids = set(BUILTIN_KINDS) | set(known_kinds)
        self._shared: dict[Any, Any] = {}
        self._moments: dict[Any, datetime] = {}
        self._ladders: dict[tuple[int, ...], list[int]] = {}
        self._check = {"kinds": self._kind, "connectors": self._connector, "accounts": self._account,
                       "tokens": self._token}

    def unknown_section(self, key: Any) -> None:
        self._unknown.append(key)

    def not_a_list(self, section: str) -> None:
        self._not_lists.add(section)

    def entry(self, section: str, index: int, item: Any, line: int | None) -> None:
        """One entry of a section (`line`: where it starts in the file, 1-based, when known)."""
        self._check[section](self._checkers[section], index, item, line)

    def finish(self) -> tuple[Inventory, list[str]]:
        problems = [f"top level: unknown section {key!r} (expected kinds, connectors, accounts and tokens)"
                    for key in sorted(self._unknown, key=repr)]
        problems += [f"{section}: must be a list" for section in SECTIONS if section in self._not_lists]
        for section in SECTIONS:
            problems += self._checkers[section].resolved()
        return Inventory(self.kinds, self.accounts, self.tokens, self.connectors), problems

    def _same(self, value: Any) -> Any:
        return self._shared.setdefault(value, value)

    def _kind(self, c: _Checker, index: int, raw: Any, line: int | None) -> None:
        entry = c.entry("kinds", index, raw, line, KIND_KEYS, "id, label and steps")
        if entry is None:
            return
        where, item, ident = entry
        if ident in BUILTIN_KINDS:
            c.add(where, f"{ident!r} is a built-in kind: give yours another id")
            ident = None
        label = c.text(where, item, "label", required=True)
        message = c.text(where, item, "pattern_message", required=False)
        reminder = c.text(where, item, "reminder", required=False)
        pattern = item.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
                c.add(where, f"pattern must be a regular expression of at most {MAX_PATTERN} characters")
                pattern = None
            else:
                try:
                    re.compile(pattern)
                except (re.error, RecursionError, OverflowError) as exc:
                    c.add(where, f"pattern is not a valid regular expression ({str(exc)[:100]})")
                    pattern = None
        lifetime = item.get("lifetime_days")
        if lifetime is not None and not (isinstance(lifetime, int) and not isinstance(lifetime, bool)
                                         and 0 < lifetime <= 3650):
            c.add(where, "lifetime_days must be a whole number of days between 1 and 3650")
            lifetime = None
        steps = item.get("steps", [])
        if not (isinstance(steps, list) and 0 < len(steps) <= MAX_STEPS and all(
                isinstance(s, str) and s.strip() and len(s) <= MAX_STEP_TEXT for s in steps)):
            c.add(where, f"steps must be a list of 1 to {MAX_STEPS} texts of at most {MAX_STEP_TEXT} characters")
            steps = []
        ladder = _ladder(c, where, item)
        if ident is None:
            return
        if ident in self.kinds:
            c.add(where, f"duplicate kind id {ident!r}")
            return
        self.kinds[ident] = dict(id=ident, label=label or ident, pattern=pattern, pattern_message=message,
                                 lifetime_days=lifetime, notify_days=ladder, steps=list(steps), reminder=reminder)
        self._kind_ids.add(ident)

    def _connector(self, c: _Checker, index: int, raw: Any, line: int | None) -> None:
        where = c.where("connectors", index, raw, line)
        if not isinstance(raw, dict):
            c.add(where, "each entry must be a mapping with id and type")
            return
        ident = c.text(where, raw, "id", required=True, pattern=ID_RE, hint=" (letters, digits, . _ : -, up to 150)")
        kind = c.text(where, raw, "type", required=True)
        config = {k: v for k, v in raw.items() if k not in CONNECTOR_KEYS}
        if kind is not None:
            checker = self._connector_types.get(kind)
            if checker is None:
                known = ", ".join(sorted(self._connector_types)) or "none installed"
                c.add(where, f"unknown connector type {kind!r} (known: {known})")
                kind = None
            else:
                for problem in checker.check(config):
                    c.add(where, problem)
        if ident is None or kind is None:
            return
        if ident in self.connectors:
            c.add(where, f"duplicate connector id {ident!r}")
            return
        self.connectors[ident] = dict(id=ident, type=kind, config=config)
        self._connector_ids.add(ident)

    def _account(self, c: _Checker, index: int, raw: Any, line: int | None) -> None:
        entry = c.entry("accounts", index, raw, line, ACCOUNT_KEYS, "id and name")
        if entry is None:
            return
        where, item, ident = entry
        name = c.text(where, item, "name", required=True)
        url = c.text(where, item, "settings_url", required=False, pattern=URL_RE, hint=" (an http(s) URL)")
        enabled = c.flag(where, item, "enabled", True)
        fetch = c.flag(where, item, "fetch_orders", True)
        if ident is None:
            return
        if ident in self.accounts:
            c.add(where, f"duplicate account id {ident!r}")
            return
        self.accounts[ident] = dict(id=ident, name=name or ident, enabled=enabled, fetch_orders=fetch,
                                    settings_url=url, **_retired(c, where, item))
        self._account_ids.add(ident)

    def _token(self, c: _Checker, index: int, raw: Any, line: int | None) -> None:
        entry = c.entry("tokens", index, raw, line, TOKEN_KEYS, "id, kind, name, expires_at and channel")
        if entry is None:
            return
        where, item, ident = entry
        kind = c.text(where, item, "kind", required=True)
        if kind is not None and kind not in self._kind_ids:
            c.later(where, lambda: None if kind in self._kind_ids else (
                f"unknown kind {kind!r} (use a built-in kind: {', '.join(BUILTIN_KINDS)}; or define it under kinds:)"))
        name = c.text(where, item, "name", required=True)
        channel = c.text(where, item, "channel", required=True, pattern=CHANNEL_RE,
                         hint=" (a Slack channel ID like C0123ABC)")
        app_id = c.text(where, item, "app_id", required=False, hint=' (quote numbers: app_id: "532089569783")')
        source = item.get("source")
        if source is not None and tls_source(source) is None:
            c.add(where, f"source {str(source)[:80]!r} is not valid (tls://host:port, e.g. tls://shop.example:443)")
            source = None
        expires = None
        if item.get("expires_at") is None:
            # Only a source that can be read may tell the expiry instead: with none, nothing would ever say it.
            if source is None:
                c.add(where, "expires_at is missing (optional only with a source: tls://host:port)")
        else:
            expires = self._expiry(c, where, item["expires_at"])
        connector = c.text(where, item, "connector", required=False, pattern=ID_RE)
        if connector is not None and connector not in self._connector_ids:
            c.later(where, lambda: None if connector in self._connector_ids else (
                f"unknown connector {connector!r} (define it under connectors:)"))
        verify_url = item.get("verify_url")
        if verify_url is not None and (problem := secure_url_problem(verify_url, "verify_url")):
            c.add(where, problem)
            verify_url = None
        owners = item.get("owners", []) or []
        if not isinstance(owners, list) or not all(
                isinstance(o, str) and (o == OWNER_WILDCARD or OWNER_RE.fullmatch(o)) for o in owners):
            c.add(where, 'owners must be a list of Slack user or user group IDs (U…, W… or S…), '
                         'or "*" for every full member of the workspace')
            owners = []
        refs = item.get("accounts", []) or []
        if not isinstance(refs, list) or not all(isinstance(a, str) for a in refs):
            c.add(where, "accounts must be a list of account ids")
            refs = []
        for ref in refs:
            if ref not in self._account_ids:
                c.later(where, lambda ref=ref: None if ref in self._account_ids else (
                    f"unknown account {ref!r} (not in this file's accounts nor already imported)"))
        if len(set(refs)) != len(refs):
            c.add(where, "accounts lists the same account twice")
        days = _ladder(c, where, item)
        retired = _retired(c, where, item)
        place = _marketplace(c, where, item)
        escalate_to = _escalate_to(c, where, item)
        seller = _selling_partner_id(c, where, item, kind)
        if ident is None:
            return
        if ident in self.tokens:
            c.add(where, f"duplicate token id {ident!r}")
            return
        same = self._same
        self.tokens[ident] = dict(id=ident, kind=same(kind), name=name or ident, channel=same(channel),
                                  app_id=app_id, expires_at=expires, owners=[same(o) for o in owners],
                                  accounts=[same(a) for a in dict.fromkeys(refs)],
                                  notify_days=None if days is None else self._ladders.setdefault(tuple(days), days),
                                  connector=connector, verify_url=verify_url, source=source, marketplace=place,
                                  escalate_to=escalate_to, selling_partner_id=seller,
                                  # False: the source will tell (the importer keeps a stored expiry, or waits)
                                  expiry_known=expires is not None,
                                  **retired)

    def _expiry(self, c: _Checker, where: str, value: Any) -> datetime | None:
        try:
            return self._moments[value]
        except (KeyError, TypeError):
            pass
        try:
            moment = parse_expiry(value)
        except ValueError as exc:
            c.add(where, f"expires_at: {exc}")
            return None
        if len(self._moments) < 100_000 and isinstance(value, date | str):
            self._moments[value] = moment
        return moment


def check_inventory(data: Any, lines: dict[str, list[int]], *, known_accounts: set[str],
                    known_kinds: set[str] = frozenset(), known_connectors: set[str] = frozenset(),
                    connector_types: Mapping[str, ConnectorTypeCheck] | None = None) -> tuple[Inventory, list[str]]:
    """The checked inventory and every problem found. `lines` gives each section's entry lines;
    `known_accounts` and `known_kinds` are those already stored, which tokens may name too."""
    if not isinstance(data, dict):
        return Inventory({}, {}, {}), ["the file must be a mapping with 'kinds', 'connectors', 'accounts' and/or "
                                       "'tokens' lists"]
    checker = InventoryChecker(known_accounts=known_accounts, known_kinds=known_kinds,
                               known_connectors=known_connectors, connector_types=connector_types)
    for key in set(data) - set(SECTIONS):
        checker.unknown_section(key)
    raw = {section: data.get(section) or [] for section in SECTIONS}
    for section in SECTIONS:
        if not isinstance(raw[section], list):
            checker.not_a_list(section)
            raw[section] = []
    for section in SECTIONS:
        section_lines = lines.get(section, [])
        for index, item in enumerate(raw[section]):
            checker.entry(section, index, item, section_lines[index] if index < len(section_lines) else None)
    return checker.finish()
