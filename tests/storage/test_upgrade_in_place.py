"""A database made and used by the 0.1.0 release is upgraded in place by today's `bot.py migrate`, losing nothing.

The fixtures were made by the release's own code (commit 0713cbd): see fixtures/make_release_db.py for how, and for
what they hold. Each test loads one into a fresh database, snapshots every row, runs `bot.py migrate` as a person
would, then checks every row is still there with the same values, the schema is today's, the stored secret still
decrypts with the key it was written under, and `status --json` and `scan --dry-run` work on the result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (the tables compared against)
from storage.db import make_engine
from storage.migrate import head_revision

try:
    from renewbot.crypto import SecretBox
except ImportError:  # the flat layout, before the renewbot package
    from crypto import SecretBox

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASE_REVISION = "0002"
# The same test data as in fixtures/make_release_db.py: made up for the fixture, not real secrets.
FERNET_KEY = "p8B3a_l96lp0hEJmAs2igTK0ujVd5DQZIeVimvXDdQw="
RENEWED_SECRET = "amzn.mws.582ee684-b6af-4ca1-b899-28f00b5fe26b"
ROW_COUNTS = {"account": 5, "notice": 6, "renewal": 1, "token": 6, "tokenaccount": 5}


def bot(command: list[str], url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {"DATABASE_URL": url} | env
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *command], env=environ, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def snapshot(url: str) -> dict[str, dict[tuple, dict]]:
    """Every row of every table but alembic_version, by primary key, as the driver reads it."""
    engine = make_engine(url)
    tables: dict[str, dict[tuple, dict]] = {}
    with engine.connect() as conn:
        schema = inspect(conn)
        for table in sorted(schema.get_table_names()):
            if table == "alembic_version":
                continue
            key = schema.get_pk_constraint(table)["constrained_columns"]
            assert key, f"{table} has no primary key to match rows by"
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).mappings().all()
            tables[table] = {tuple(row[c] for c in key): dict(row) for row in rows}
    engine.dispose()
    return tables


def revision(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    return found


def load_postgresql_dump(url: str) -> None:
    sql = (FIXTURES / "release-0.1.0.postgresql.sql").read_text()
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql)  # no parameters: psycopg sends it as one simple query, many statements allowed
        cursor.close()
        raw.commit()
    finally:
        raw.close()
    engine.dispose()  # the dump's SET commands stay with that connection, not with the pool


def upgrade_in_place_and_check(url: str, workdir: Path) -> None:
    assert revision(url) == [RELEASE_REVISION]
    before = snapshot(url)
    assert {table: len(rows) for table, rows in before.items()} == ROW_COUNTS

    migrated = bot(["migrate"], url, workdir)
    assert migrated.returncode == 0, (migrated.stdout, migrated.stderr)
    assert "created a new database" not in migrated.stderr

    # Every row from before, with the same values in the columns it had (later migrations may add columns).
    after = snapshot(url)
    for table, rows in before.items():
        assert table in after, f"table {table} is gone"
        assert after[table].keys() == rows.keys(), f"{table}: rows lost or added"
        for key, row in rows.items():
            assert {column: after[table][key].get(column) for column in row} == row, f"{table} {key} changed"

    # At the head, and the schema is exactly what today's models describe.
    assert revision(url) == [head_revision()]
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        secret = conn.execute(text("SELECT secret_encrypted FROM token WHERE id = 'amazon-eu-mws'")).scalar()
    engine.dispose()
    assert diff == []
    # Compared into a bool first, so a failure never shows the secret in pytest's report.
    encrypted = RENEWED_SECRET not in secret
    decrypts = SecretBox((FERNET_KEY,)).decrypt(secret) == RENEWED_SECRET
    assert encrypted, "the secret is stored in plain text"
    assert decrypts, "the stored secret no longer decrypts to the one the release stored"

    # Today's commands read the upgraded data as the release left it.
    status = bot(["status", "--json"], url, workdir)
    assert status.returncode == 0, (status.stdout, status.stderr)
    data = json.loads(status.stdout)
    tokens = {t["id"]: t for t in data["tokens"]}
    accounts = {a["id"]: a for a in data["accounts"]}
    assert set(tokens) == {"amazon-eu-mws", "amazon-na-sp", "amazon-jp-sp", "shop-tls-cert", "shop-api-key",
                           "ops-webhook-secret"}
    mws = tokens["amazon-eu-mws"]
    assert (mws["kind"], mws["expires_at"], mws["has_secret"], mws["accounts"], mws["owners"], mws["open_notice"]) == (
        "amazon-mws", "2027-11-26T00:00:00+00:00", True, ["amazon-uk", "amazon-de"], ["U0OWNER"], None)
    na = tokens["amazon-na-sp"]
    (thread_reply,) = [n for n in before["notice"].values() if n["token_id"] == "amazon-na-sp" and n["stage"] == "14d"]
    assert (na["kind"], na["expires_at"], na["has_secret"], na["owners"]) == (
        "amazon-sp-api", "2026-12-11T00:00:00+00:00", False, ["U0OWNER", "S0SELLERS"])
    assert {k: na["open_notice"][k] for k in ("stage", "state", "channel", "ts")} == {
        "stage": "14d", "state": "sent", "channel": "C0ALERTS", "ts": thread_reply["ts"]}
    assert tokens["amazon-jp-sp"]["expires_at"] == "2027-12-06T00:00:00+00:00"
    assert tokens["amazon-jp-sp"]["open_notice"] is None  # its notice was superseded by the re-import
    webhook = tokens["ops-webhook-secret"]["open_notice"]  # to be retried after Slack's internal_error
    assert (webhook["stage"], webhook["state"], webhook["ts"]) == ("30d", "pending", None)
    failed = tokens["shop-tls-cert"]["failed_notices"]  # posted to a channel that is gone
    assert [(n["stage"], n["error"]) for n in failed] == [("3d", "channel_not_found")]
    assert {a: (accounts[a]["enabled"], accounts[a]["fetch_orders"]) for a in accounts} == {
        "amazon-uk": (True, True), "amazon-de": (True, False), "amazon-us": (False, True),
        "amazon-jp": (True, False), "webshop": (True, True)}
    assert accounts["amazon-uk"]["settings_url"] == (
        "https://commerce.example/configuration/selling/amazon/accounts/amazon-uk")

    # scan checks the stored secret against the keys before anything else, then changes nothing in a dry run.
    scan = bot(["scan", "--dry-run"], url, workdir, TOKEN_ENCRYPTION_KEYS=FERNET_KEY)
    assert scan.returncode == 0, (scan.stdout, scan.stderr)
    assert scan.stdout.startswith("[dry-run]")
    assert snapshot(url) == after


def test_release_sqlite_database_is_upgraded_in_place(tmp_path):
    db = tmp_path / "data" / "renewbot.db"
    db.parent.mkdir()
    shutil.copyfile(FIXTURES / "release-0.1.0.sqlite3", db)
    work = tmp_path / "work"
    work.mkdir()
    upgrade_in_place_and_check(f"sqlite:///{db}", work)


def test_release_postgresql_database_is_upgraded_in_place(pg_db_url, tmp_path):
    load_postgresql_dump(pg_db_url)
    upgrade_in_place_and_check(pg_db_url, tmp_path)
