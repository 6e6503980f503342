"""`renewbot import FILE.yml`: create or update accounts and tokens, all or nothing.

Reading the YAML (with line marks for errors) is here; what a valid entry is
lives in domain/inventory.py; the writes are storage's. The one rule of our
own: an expiry changed by the file starts that token's notices afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session

from renewbot.domain.inventory import Inventory, check_inventory
from renewbot.domain.thresholds import notify_from
from renewbot.errors import ImportFileError
from storage import notices, queries
from storage.models import NoticeState

SECTIONS = ("accounts", "tokens")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"

    def record(self, what: str, outcome: queries.Saved) -> None:
        {queries.Saved.CREATED: self.created, queries.Saved.UPDATED: self.updated,
         queries.Saved.UNCHANGED: self.unchanged}[outcome].append(what)


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
    known = queries.account_ids(session=session)
    inventory, problems = check_inventory(data, lines, known_accounts=known)
    if problems:
        raise ImportFileError(str(path), problems)
    return inventory


def import_file(path: Path, *, session: Session, now: datetime) -> ImportReport:
    """Checks the whole file, then applies it in the caller's transaction. Unchanged rows are not written."""
    inventory = check_file(path, session=session)
    report = ImportReport()
    for values in inventory.accounts.values():
        report.record(f"account {values['id']}", queries.save_account(session=session, values=values))
    session.flush()
    for entry in inventory.tokens.values():
        values = {k: v for k, v in entry.items() if k != "accounts"}
        values["notify_from"] = notify_from(values["expires_at"], values["notify_days"])
        old_expiry = queries.token_expiry(session=session, token_id=values["id"])
        expiry_moved = old_expiry is not None and old_expiry != values["expires_at"]
        # A new version makes a form opened before the import refuse to save over it.
        outcome = queries.save_token(session=session, values=values, bump_version=expiry_moved)
        if expiry_moved:
            # Its notices were about an expiry that no longer holds.
            notices.close_notices(session=session, token_id=values["id"], now=now, state=NoticeState.SUPERSEDED,
                                  expires_at=old_expiry)
        relinked = queries.set_token_accounts(session=session, token_id=values["id"], account_ids=entry["accounts"])
        if relinked and outcome is queries.Saved.UNCHANGED:
            outcome = queries.Saved.UPDATED
        report.record(f"token {values['id']}", outcome)
    session.flush()
    return report
