"""Shared fixtures: databases (SQLite and PostgreSQL), a clock, the Slack stand-in."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine

from renewbot.crypto import SecretBox
from renewbot.runtime.deps import Deps
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support.slack_standin import SlackStandin

PG_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _pg_admin_url() -> str | None:
    for url in PG_ADMIN_URLS:
        try:
            eng = make_engine(url)
            with eng.connect():
                pass
            eng.dispose()
            return url
        except Exception:
            continue
    return None


@pytest.fixture(scope="session")
def pg_url():
    """A database of this test run's own on the local PostgreSQL, dropped at the end."""
    admin = _pg_admin_url()
    if admin is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, and CI=true forbids skipping its tests")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"renewbot_test_{uuid.uuid4().hex[:10]}"
    admin_engine = make_engine(admin).execution_options(isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'renewbot.db'}"
    return _fresh_pg(request.getfixturevalue("pg_url"))


def _fresh_pg(url: str) -> str:
    eng = make_engine(url)
    with eng.begin() as conn:  # a clean schema for every test
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return url


@pytest.fixture
def pg_db_url(pg_url) -> str:
    """PostgreSQL only, for what only makes sense there (replicas)."""
    return _fresh_pg(pg_url)


@pytest.fixture
def engine(db_url) -> Engine:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def fernet_key() -> str:
    return Fernet.generate_key().decode()


class Clock:
    """A settable clock for handlers and jobs (freezegun does not reach other threads' timers)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(engine, fernet_key, clock) -> Deps:
    return Deps(engine=engine, box=SecretBox((fernet_key,)), clock=clock)


@pytest.fixture
def slack():
    with SlackStandin() as standin:
        yield standin


@pytest.fixture
def bot(slack, deps):
    from tests.support.bot_server import BotServer, standin_settings
    with BotServer(standin_settings(slack.url), deps, slack) as server:
        yield server
