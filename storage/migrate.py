"""Schema migrations (Alembic) are the only way the schema is made or changed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test holds it to Alembic's own head). Knowing it
# lets every start-up check the schema without importing Alembic, about 60 ms of each command.
HEAD = "0008"
# Any constant works; it only has to be the same in every renewbot process.
ADVISORY_LOCK_ID = 0x72656E6577  # "renew"


@dataclass(frozen=True)
class Upgrade:
    """What upgrade() did: `applied` when migrations ran, from which revision (None: an empty database)."""
    applied: bool
    from_revision: str | None = None

    @property
    def created(self) -> bool:
        return self.applied and self.from_revision is None


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _recorded(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _recorded(conn)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    # SQLite has no advisory locks; a lock file beside the database serialises migrators.
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock = os.open(f"{database}.migrate-lock", os.O_CREAT | os.O_RDWR, 0o600)
    with os.fdopen(lock, "a+b") as handle:
        _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # retries for 10 s, then raises

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX)

    def _unlock(handle) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


def _apply(conn: Connection) -> Upgrade:
    """Runs the pending revisions on a connection that holds the migration lock."""
    before = _recorded(conn)
    if before == HEAD:
        return Upgrade(applied=False, from_revision=before)
    from alembic import command

    command.upgrade(alembic_config(conn), "head")
    conn.commit()
    return Upgrade(applied=True, from_revision=before)


def upgrade(engine: Engine) -> Upgrade:
    """Applies pending migrations. Safe when processes start together: the second waits, then finds nothing to do."""
    if current_revision(engine) == HEAD:
        return Upgrade(applied=False, from_revision=HEAD)
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine), engine.connect() as conn:
            return _apply(conn)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        conn.commit()
        try:
            return _apply(conn)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            conn.commit()
