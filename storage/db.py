"""Engine and session set-up. The engine is built once in bot.py and passed down."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


def normalise_url(url: str) -> str:
    # "postgresql://" as people write it; psycopg 3 is the driver we ship.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


# SQLite's companions of a database file; they hold the same data, so they get the same mode.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", ".migrate-lock")


def private_sqlite_file(database: str) -> None:
    """The database folder 0700 when we make it (or it is the default data/), the files 0600.

    SQLite creates its WAL and SHM files with the database file's mode, so creating that one
    private first keeps them private too; existing files are tightened at every start.
    """
    path = Path(database)
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True)
        folder.chmod(0o700)
    elif (folder.name == "data" and hasattr(os, "getuid") and folder.stat().st_uid == os.getuid()
          and stat.S_IMODE(folder.stat().st_mode) & 0o077):
        folder.chmod(0o700)  # renewbot's default folder, made open by an earlier release
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for suffix in SQLITE_COMPANIONS:
        companion = Path(f"{database}{suffix}")
        if companion.exists() and stat.S_IMODE(companion.stat().st_mode) & 0o077:
            companion.chmod(0o600)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(parsed.database)
        # hide_parameters: an error's SQL parameters could carry a secret's ciphertext into a log line.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            # Readers don't block the one writer. Switching a new file to WAL needs a moment alone with
            # it, and SQLite answers "locked" at once instead of waiting when two processes race here.
            for attempt in range(50):
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.05 * (attempt + 1))
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def describe_database(engine: Engine) -> str:
    """Where the data lives, for people: the SQLite file's absolute path, or the URL without its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(Path(url.database).resolve()) if url.database and url.database != ":memory:" else "memory"
    return url.render_as_string(hide_password=True)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


SQLITE_BUSY_TIMEOUT_MS = 30000


@contextmanager
def bounded_lock_waits(session: Session, seconds: float) -> Iterator[None]:
    """Within this block a lock held elsewhere makes a statement fail after `seconds`, not wait for it.

    For work that must finish inside a deadline (Slack's 3 s for a submission): failing fast, with nothing
    changed, beats committing after the person was already told it failed.
    """
    ms = int(seconds * 1000)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA busy_timeout={ms}"))
        try:
            yield
        finally:  # the connection goes back to the pool: restore what every other user expects
            session.execute(text(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"))
        return
    # SET LOCAL ends with the transaction, so the pooled connection keeps its defaults.
    session.execute(text(f"SET LOCAL lock_timeout = {ms}"))
    session.execute(text(f"SET LOCAL statement_timeout = {ms + 500}"))
    yield


@contextmanager
def session_scope(engine: Engine, *, commit: bool = True) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error (always, with commit=False:
    a dry run does the real work, then undoes it)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            if commit:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
