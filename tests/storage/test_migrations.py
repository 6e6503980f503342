"""Migrations make the schema, agree with the models, and are safe to start twice at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import make_engine
from storage.migrate import HEAD, current_revision, head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_the_start_up_shortcut_knows_the_real_head():
    assert head_revision() == HEAD


def test_upgrade_is_a_no_op_the_second_time(engine):
    assert upgrade(engine).applied is False


def test_schema_comes_only_from_migrations(db_url):
    eng = make_engine(db_url)
    assert "token" not in inspect(eng).get_table_names()
    assert upgrade(eng).created is True
    assert {"account", "token", "tokenaccount", "notice", "renewal", "alembic_version"} <= set(
        inspect(eng).get_table_names())
    eng.dispose()


def test_two_processes_migrating_at_once(db_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {"DATABASE_URL": db_url}
    procs = [subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "migrate"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    outs = sorted(r[0].strip() for r in results)
    assert "migrate: applied pending migrations" in outs
    eng = make_engine(db_url)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    eng.dispose()


def test_lwa_secrets_following_their_kind_move_to_the_90_day_ladder(db_url):
    """0006: the built-in LWA client secret kind starts reminding at 90 days; stored tokens must follow, or the
    scan (which reads notify_from) would not see them until 30 days before."""
    from datetime import UTC, datetime, timedelta

    from alembic import command

    from storage.migrate import alembic_config

    eng = make_engine(db_url)
    expiry = datetime(2027, 6, 1, tzinfo=UTC)
    with eng.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        for token_id, kind, days in (("lwa", "amazon-lwa-client-secret", None),
                                     ("lwa-own", "amazon-lwa-client-secret", "[7]"),
                                     ("sp", "amazon-sp-api", None)):
            conn.execute(text(
                "INSERT INTO token (id, kind, name, expires_at, notify_from, channel, owners, notify_days, version,"
                " retired, expiry_known) VALUES (:id, :kind, :id, :exp, :nf, 'C0X', '[]', :days, 1, false, true)"),
                dict(id=token_id, kind=kind, exp=expiry, nf=expiry - timedelta(days=30 if days is None else 7),
                     days=days))
    assert upgrade(eng).applied is True
    with eng.connect() as conn:
        got = dict(conn.execute(text("SELECT id, notify_from FROM token")).all())
    eng.dispose()

    def day(value):
        return str(value)[:10]
    assert day(got["lwa"]) == "2027-03-03"  # 90 days before
    assert day(got["lwa-own"]) == "2027-05-25"  # its own ladder stands
    assert day(got["sp"]) == "2027-05-02"  # other kinds untouched
