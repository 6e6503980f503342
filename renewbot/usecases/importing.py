"""`renewbot import FILE.yml`: create or update kinds, accounts and tokens, all or nothing.

What a valid entry is lives in domain/inventory.py; the writes are storage's. The rules of our own:
the file describes the inventory but does not own what happened since (an
earlier expiry never replaces a later stored one, account switches are set
once), and an expiry changed by the file starts that token's notices afresh.

Reading the file is inventory_file.py's. A file may hold a million tokens, so it
is written set-wise: one read of the stored rows per few thousand ids, then
executemany INSERTs and UPDATEs, all in the caller's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from renewbot.connectors.registry import connector_types
from renewbot.domain.inventory import Inventory
from renewbot.domain.thresholds import UNKNOWN_EXPIRY, notify_from
from renewbot.errors import ImportFileError
from renewbot.usecases.inventory_file import read_inventory
from renewbot.usecases.kinds import ladders, team_kinds
from storage import queries
from storage.models import Account, Connector, Kind, Token

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


def check_file(path: Path, *, session: Session) -> Inventory:
    """Everything that is wrong with the file, at once; raises ImportFileError when anything is."""
    inventory, problems = read_inventory(path, known_accounts=queries.account_ids(session=session),
                                         known_kinds=set(team_kinds(session=session)),
                                         known_connectors=queries.connector_ids(session=session),
                                         connector_types=connector_types())
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
    _save_rows(session, Kind, "kind", inventory.kinds, report)
    _save_rows(session, Connector, "connector", inventory.connectors, report)
    _save_rows(session, Account, "account", inventory.accounts, report, on_create_only=ACCOUNT_FLAGS_ON_CREATE)
    kind_ladders = ladders(session=session)  # the built-in kinds' too (amazon-lwa-client-secret starts at 90 days)
    tokens = list(inventory.tokens)
    for start in range(0, len(tokens), queries.CHUNK):
        _import_tokens(session, [inventory.tokens[t] for t in tokens[start:start + queries.CHUNK]], kind_ladders,
                       report, now=now, force_expiry=force_expiry)
    return report


def _columns(model: Any) -> list[str]:
    return [c.name for c in model.__table__.columns]


def _save_rows(session: Session, model: Any, label: str, entries: dict[str, dict], report: ImportReport,
               on_create_only: tuple[str, ...] = ()) -> None:
    """Kinds or accounts: created, or updated field by field (except `on_create_only`), or left alone."""
    columns = _columns(model)
    stored = queries.rows_by_id(session=session, model=model, ids=list(entries), columns=columns)
    created, updated = [], []
    for ident, values in entries.items():
        row = stored.get(ident)
        if row is None:
            created.append({**_DEFAULTS.get(model, {}), **values})
            report.record(f"{label} {ident}", queries.Save(queries.Saved.CREATED))
            continue
        changes = {k: (row[k], v) for k, v in values.items() if k not in on_create_only and row[k] != v}
        if changes:
            updated.append({"id": ident, **{k: new for k, (_, new) in changes.items()}})
        report.record(f"{label} {ident}", _saved(changes))
    queries.insert_rows(session=session, model=model, rows=created)
    queries.update_rows(session=session, model=model, rows=updated)


# What the models give a row the file says nothing about (every INSERT of a batch names the same columns).
_DEFAULTS: dict[Any, dict] = {Account: {"retired": False},
                              Token: {"secret_encrypted": None, "version": 1, "retired": False}}
_TOKEN_COLUMNS = ["id", "kind", "name", "channel", "app_id", "expires_at", "owners", "notify_days", "retired",
                  "notify_from", "version", "connector", "verify_url", "source", "expiry_known", "marketplace",
                  "escalate_to", "selling_partner_id"]


def _saved(changes: dict) -> queries.Save:
    return queries.Save(queries.Saved.UPDATED if changes else queries.Saved.UNCHANGED, changes)


def _import_tokens(session: Session, entries: list[dict], kind_ladders: dict, report: ImportReport, *,
                   now: datetime, force_expiry: bool) -> None:
    """One batch of tokens: one read of what is stored, then a few statements for all of them."""
    stored = queries.rows_by_id(session=session, model=Token, ids=[e["id"] for e in entries], columns=_TOKEN_COLUMNS)
    linked_now = queries.account_ids_by_token(session=session, token_ids=list(stored))
    created, updated, relinked = [], [], {}
    retired, moved = [], []
    for entry in entries:
        ident = entry["id"]
        what = f"token {ident}"
        values = {k: v for k, v in entry.items() if k != "accounts"}
        row = stored.get(ident)
        expiry = row["expires_at"] if row is not None else None
        if values["expires_at"] is None:
            # A token read from its source with no date in the file: what the source last said stands, or,
            # for a new token, "unknown" until the first scan reads it (import never touches the network).
            values["expires_at"] = expiry if row is not None else UNKNOWN_EXPIRY
            values["expiry_known"] = row["expiry_known"] if row is not None else False
        elif expiry is not None and values["expires_at"] < expiry and not force_expiry and row["expiry_known"]:
            # Renewed since the file was written: the later stored date stands.
            report.changes.append(f"{what}: expires_at {values['expires_at']:%Y-%m-%d} in the file is earlier than "
                                  f"the stored {expiry:%Y-%m-%d}: kept the stored date (--force-expiry overrides)")
            values["expires_at"] = expiry
        values["notify_from"] = notify_from(values["expires_at"], values["notify_days"] or kind_ladders.get(
            values["kind"]))
        expiry_moved = expiry is not None and expiry != values["expires_at"]
        if row is None:
            created.append({**_DEFAULTS[Token], **values})
            saved = queries.Save(queries.Saved.CREATED)
        else:
            changes = {k: (row[k], v) for k, v in values.items() if row[k] != v}
            if changes:
                # A new version makes a form opened before the import refuse to save over it.
                bump = {"version": row["version"] + 1} if expiry_moved else {}
                updated.append({"id": ident, **{k: new for k, (_, new) in changes.items()}, **bump})
            saved = _saved(changes)
        if values.get("retired"):
            retired.append(ident)  # a token no longer watched: none of its notices stand
        elif expiry_moved:
            moved.append((ident, expiry))  # its notices were about an expiry that no longer holds
        linked = linked_now.get(ident, [])
        if linked != entry["accounts"]:
            relinked[ident] = entry["accounts"]
            if saved.outcome is not queries.Saved.CREATED:
                saved = queries.Save(queries.Saved.UPDATED, {**saved.changes, "accounts": (linked, entry["accounts"])})
        report.record(what, saved)
    queries.insert_rows(session=session, model=Token, rows=created)
    queries.update_rows(session=session, model=Token, rows=updated)
    queries.unlink_accounts(session=session, token_ids=[t for t in relinked if t in linked_now])
    queries.link_accounts(session=session, links=relinked)
    queries.supersede_open_notices(session=session, now=now, token_ids=retired, expiries=moved)
