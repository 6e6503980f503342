"""`renewbot import FILE.yml`: create or update kinds, accounts and tokens, all or nothing.

Reading the YAML (with line marks for errors) is here; what a valid entry is
lives in domain/inventory.py; the writes are storage's. The rules of our own:
the file describes the inventory but does not own what happened since (an
earlier expiry never replaces a later stored one, account switches are set
once), and an expiry changed by the file starts that token's notices afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session

from renewbot.domain.inventory import SECTIONS, Inventory, check_inventory
from renewbot.domain.thresholds import notify_from
from renewbot.errors import ImportFileError
from renewbot.usecases.kinds import team_kinds
from storage import notices, queries
from storage.models import NoticeState

# An account's switches belong to renewals (and later the platform) once it exists: the file sets them once.
ACCOUNT_FLAGS_ON_CREATE = ("enabled", "fetch_orders")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # One line per field that changes (or is kept against the file), for --dry-run and for people reading.
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"

    def record(self, what: str, saved: queries.Save) -> None:
        {queries.Saved.CREATED: self.created, queries.Saved.UPDATED: self.updated,
         queries.Saved.UNCHANGED: self.unchanged}[saved.outcome].append(what)
        if saved.outcome is queries.Saved.CREATED:
            self.changes.append(f"{what}: created")
        for name, (old, new) in saved.changes.items():
            self.changes.append(f"{what}: {name} {_shown(old)} -> {_shown(new)}")


def _shown(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


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
        problem = getattr(exc, "problem", None) or "parse error"
        raise ImportFileError(str(path), [f"{where}not valid YAML ({problem})"]) from None
    return data, node


def _item_lines(root_node: Any, section: str) -> list[int]:
    if not isinstance(root_node, yaml.MappingNode):
        return []
    for key, value in root_node.value:
        if getattr(key, "value", None) == section and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def check_file(path: Path, *, session: Session) -> Inventory:
    """Everything that is wrong with the file, at once; raises ImportFileError when anything is."""
    data, node = _load(path)
    lines = {section: _item_lines(node, section) for section in SECTIONS}
    inventory, problems = check_inventory(data, lines, known_accounts=queries.account_ids(session=session),
                                          known_kinds=set(team_kinds(session=session)))
    if problems:
        raise ImportFileError(str(path), problems)
    return inventory


def import_file(path: Path, *, session: Session, now: datetime, force_expiry: bool = False) -> ImportReport:
    """Checks the whole file, then applies it in the caller's transaction. Unchanged rows are not written.

    The file describes the inventory; it never undoes what happened since: a stored expiry moves only to a
    later date from the file (unless force_expiry), and account switches come from the file only on creation.
    """
    inventory = check_file(path, session=session)
    report = ImportReport()
    for values in inventory.kinds.values():
        report.record(f"kind {values['id']}", queries.save_kind(session=session, values=values))
    for values in inventory.accounts.values():
        report.record(f"account {values['id']}", queries.save_account(
            session=session, values=values, on_create_only=ACCOUNT_FLAGS_ON_CREATE))
    session.flush()
    ladders = {kind_id: kind.notify_days for kind_id, kind in team_kinds(session=session).items()}
    for entry in inventory.tokens.values():
        _import_token(session, entry, ladders.get(entry["kind"]), report, now=now, force_expiry=force_expiry)
    session.flush()
    return report


def _import_token(session: Session, entry: dict, kind_ladder, report: ImportReport, *, now: datetime,
                  force_expiry: bool) -> None:
    what = f"token {entry['id']}"
    values = {k: v for k, v in entry.items() if k != "accounts"}
    stored = queries.token_expiry(session=session, token_id=values["id"])
    if stored is not None and values["expires_at"] < stored and not force_expiry:
        # Renewed since the file was written: the later stored date stands.
        report.changes.append(f"{what}: expires_at {values['expires_at']:%Y-%m-%d} in the file is earlier than "
                              f"the stored {stored:%Y-%m-%d}: kept the stored date (--force-expiry overrides)")
        values["expires_at"] = stored
    values["notify_from"] = notify_from(values["expires_at"], values["notify_days"] or kind_ladder)
    expiry_moved = stored is not None and stored != values["expires_at"]
    # A new version makes a form opened before the import refuse to save over it.
    saved = queries.save_token(session=session, values=values, bump_version=expiry_moved)
    if expiry_moved or values.get("retired"):
        # Its notices were about an expiry that no longer holds, or about a token no longer watched.
        notices.close_notices(session=session, token_id=values["id"], now=now, state=NoticeState.SUPERSEDED,
                              expires_at=None if values.get("retired") else stored)
    linked = queries.account_ids_of(session=session, token_id=values["id"])
    if queries.set_token_accounts(session=session, token_id=values["id"], account_ids=entry["accounts"]):
        changes = {**saved.changes, "accounts": (linked, entry["accounts"])}
        saved = saved if saved.outcome is queries.Saved.CREATED else queries.Save(queries.Saved.UPDATED, changes)
    report.record(what, saved)
