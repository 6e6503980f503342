"""Seeding test databases through the real import path."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime
from pathlib import Path

import yaml

from renewbot.usecases.importing import import_file
from storage.db import session_scope

_counter = itertools.count()


def account(id: str, **kw) -> dict:
    return {"id": id, "name": kw.pop("name", id.replace("-", " ").title()), **kw}


def token(id: str, expires_at: datetime | str, *, kind: str = "amazon-mws", channel: str = "C0ALERTS",
          accounts: list[str] | None = None, owners: list[str] | None = None, **kw) -> dict:
    return {"id": id, "kind": kind, "name": kw.pop("name", f"Token {id}"),
            "expires_at": expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at,
            "channel": channel, "accounts": accounts or [], "owners": owners or [], **kw}


def seed(engine, *, accounts: list[dict] = (), tokens: list[dict] = (), now: datetime) -> None:
    path = Path(tempfile.gettempdir()) / f"renewbot-seed-{next(_counter)}-{id(engine)}.yml"
    path.write_text(yaml.safe_dump({"accounts": list(accounts), "tokens": list(tokens)}))
    try:
        with session_scope(engine) as session:
            import_file(path, session=session, now=now)
    finally:
        path.unlink(missing_ok=True)
