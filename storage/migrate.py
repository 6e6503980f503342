"""Schema migrations (Alembic) are the only way the schema is made or changed."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions (a test holds it to Alembic's own head). Knowing it
# lets every start-up check the schema without importing Alembic, about 60 ms of each command.
HEAD = "0002"
# Any constant works; it only has to be the same in every renewbot process.
ADVISORY_LOCK_ID = 0x72656E6577  # "renew"


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
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> bool:
    """Applies pending migrations; returns whether any ran. Safe when processes start together."""
    head = HEAD
    if current_revision(engine) == head:
        return False
    from alembic import command
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
            if _recorded(conn) == head:
                return False
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            conn.commit()
    return True
