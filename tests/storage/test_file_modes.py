"""The SQLite database and its companion files are private to the user running renewbot."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import make_engine
from storage.migrate import upgrade

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_folder_is_0700_and_every_file_0600(tmp_path):
    folder = tmp_path / "fresh" / "data"
    engine = make_engine(f"sqlite:///{folder / 'renewbot.db'}")
    upgrade(engine)  # takes the migration lock file and writes through the WAL
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO account (id, name, enabled, fetch_orders, retired) VALUES ('a', 'A', 1, 1, 0)"))
    files = sorted(p.name for p in folder.iterdir())
    assert {"renewbot.db", "renewbot.db-wal", "renewbot.db-shm", "renewbot.db.migrate-lock"} <= set(files)
    assert mode(folder) == 0o700
    assert {name: mode(folder / name) for name in files} == {name: 0o600 for name in files}
    engine.dispose()


def test_files_an_earlier_release_left_open_are_tightened_at_start(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    database = folder / "renewbot.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(folder) == 0o700
    assert all(mode(p) == 0o600 for p in folder.iterdir())


def test_a_folder_that_is_not_ours_to_change_keeps_its_mode(tmp_path):
    shared = tmp_path / "srv"
    shared.mkdir()
    shared.chmod(0o755)
    make_engine(f"sqlite:///{shared / 'renewbot.db'}").dispose()
    assert mode(shared) == 0o755 and mode(shared / "renewbot.db") == 0o600
