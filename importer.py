"""`bot.py import FILE.yml`: create or update accounts and tokens, all or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from errors import ImportFileError
from storage import queries
from storage.models import Account, Token, TokenAccount
from thresholds import ladder_for, notify_from

KINDS = ("amazon-mws", "amazon-sp-api", "generic")
# Matched with fullmatch: "$" would also accept a trailing newline.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,149}")
CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,38}")
OWNER_RE = re.compile(r"[UWS][A-Z0-9]{2,38}")
URL_RE = re.compile(r"https?://[^\s<>|\"]{1,2000}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_TEXT = 200
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)
ACCOUNT_KEYS = {"id", "name", "enabled", "fetch_orders", "settings_url"}
TOKEN_KEYS = {"id", "kind", "name", "expires_at", "channel", "owners", "accounts", "app_id", "notify_days"}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


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
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{moment:%Y-%m-%d} is out of range (1970 to 8999)")
    return moment


class _Loader(yaml.SafeLoader):
    """PyYAML raises a bare ValueError for 2027-02-30; make it a YAML error with a line."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, AttributeError, TypeError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _load(path: Path) -> tuple[Any, Any]:
    """The data and its node tree, so errors can name a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(str(path), [f"cannot read the file ({exc.__class__.__name__})"]) from None
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise ImportFileError(str(path), ["the YAML is nested too deeply to be an import file"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ImportFileError(str(path), [f"{where}not valid YAML ({getattr(exc, 'problem', None) or 'parse error'})"]) from None
    return data, node


def _item_lines(root_node: Any, section: str) -> list[int]:
    if not isinstance(root_node, yaml.MappingNode):
        return []
    for key, value in root_node.value:
        if getattr(key, "value", None) == section and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


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
        channel = c.text(where, item, "channel", required=True, pattern=CHANNEL_RE, hint=" (a Slack channel ID like C0123ABC)")
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


def check_file(path: Path, *, session: Session) -> tuple[dict[str, dict], dict[str, dict]]:
    """Everything that is wrong with the file, at once; raises ImportFileError when anything is."""
    data, node = _load(path)
    if not isinstance(data, dict):
        raise ImportFileError(str(path), ["the file must be a mapping with 'accounts' and/or 'tokens' lists"])
    c = _Checker()
    for key in sorted(set(data) - {"accounts", "tokens"}, key=repr):
        c.add("top level", f"unknown section {key!r} (expected accounts and tokens)")
    raw_accounts, raw_tokens = data.get("accounts") or [], data.get("tokens") or []
    for section, raw in (("accounts", raw_accounts), ("tokens", raw_tokens)):
        if not isinstance(raw, list):
            c.add(section, "must be a list")
    accounts = _check_accounts(raw_accounts if isinstance(raw_accounts, list) else [], _item_lines(node, "accounts"), c)
    existing = set(session.exec(select(Account.id)).all())
    tokens = _check_tokens(raw_tokens if isinstance(raw_tokens, list) else [], _item_lines(node, "tokens"), c,
                           existing | set(accounts))
    if c.problems:
        raise ImportFileError(str(path), c.problems)
    return accounts, tokens


def import_file(path: Path, *, session: Session, now: datetime) -> ImportReport:
    """Checks the whole file, then applies it in the caller's transaction. Unchanged rows are not written."""
    accounts, tokens = check_file(path, session=session)
    report = ImportReport()
    for values in accounts.values():
        row = session.get(Account, values["id"])
        if row is None:
            session.add(Account(**values))
            report.created.append(f"account {values['id']}")
        elif _assign(row, values):
            report.updated.append(f"account {values['id']}")
        else:
            report.unchanged.append(f"account {values['id']}")
    session.flush()
    for values in tokens.values():
        account_ids = values.pop("accounts")
        values["notify_from"] = notify_from(values["expires_at"], ladder_for(values["notify_days"]))
        row = session.get(Token, values["id"])
        if row is None:
            session.add(Token(**values))
            session.flush()
            changed, label = True, report.created
        else:
            old_expiry = row.expires_at
            changed = _assign(row, values)
            if row.expires_at != old_expiry:
                row.version += 1
                queries.close_notices(session=session, token_id=row.id, now=now, state="superseded",
                                      expires_at=old_expiry)
            label = report.updated
        if queries.account_ids_of(session=session, token_id=values["id"]) != account_ids:
            for link in session.exec(select(TokenAccount).where(TokenAccount.token_id == values["id"])).all():
                session.delete(link)
            session.flush()
            for position, account_id in enumerate(account_ids):
                session.add(TokenAccount(token_id=values["id"], account_id=account_id, position=position))
            changed = True
        (label if changed else report.unchanged).append(f"token {values['id']}")
    session.flush()
    return report


def _assign(row: Any, values: dict) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed
