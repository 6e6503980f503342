"""Schema migrations (Alembic) are the only way the schema is made or changed."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every renewbot process.
ADVISORY_LOCK_ID = 0x72656E6577  # "renew"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    # SQLite has no advisory locks; a lock file beside the database serialises migrators.
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> bool:
    """Applies pending migrations; returns whether any ran. Safe when processes start together."""
    head = head_revision()
    if current_revision(engine) == head:
        return False
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine):
            if current_revision(engine) == head:
                return False
            with engine.connect() as conn:
                command.upgrade(alembic_config(conn), "head")
                conn.commit()
        return True
    with engine.connect() as conn:
        # Session-level lock: the second process waits, then finds nothing left to do.
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        conn.commit()
        try:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return False
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            conn.commit()
    return True
