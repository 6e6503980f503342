"""The demo shows a 30-day notice, a 3-day notice and an expired one, today and on any later day."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from renewbot.crypto import SecretBox
from renewbot.runtime import commands
from renewbot.runtime.config import Settings
from renewbot.runtime.deps import Deps
from renewbot.usecases.demo import inventory_text


def stages_shown(output: str) -> list[str]:
    return re.findall(r"stage (\w+):", output)


@pytest.mark.parametrize("days_later", [0, 1, 45, 400, 3650])
def test_the_demo_shows_three_stages_on_any_day(sqlite_engine, tmp_path, capsys, days_later):
    day = datetime.now(UTC) + timedelta(days=days_later)
    deps = Deps(engine=sqlite_engine, box=SecretBox(()), clock=lambda: day)
    settings = Settings.from_env({}, env_file=None)
    assert commands.cmd_demo(str(tmp_path / "demo.yml"), settings=settings, deps=deps) == 0
    out = capsys.readouterr().out
    assert sorted(stages_shown(out)) == ["30d", "3d", "expired"]
    assert "Payments webhook signing key" not in out  # 200 days left: nothing to say


def test_running_the_demo_again_the_next_day_still_shows_three_stages(sqlite_engine, tmp_path, capsys):
    settings = Settings.from_env({}, env_file=None)
    for days_later in (0, 1, 2):
        day = datetime(2027, 3, 1, 9, tzinfo=UTC) + timedelta(days=days_later)
        deps = Deps(engine=sqlite_engine, box=SecretBox(()), clock=lambda day=day: day)
        assert commands.cmd_demo(str(tmp_path / "demo.yml"), settings=settings, deps=deps) == 0
        assert sorted(stages_shown(capsys.readouterr().out)) == ["30d", "3d", "expired"]


def test_the_demo_inventory_is_dated_from_its_day_and_says_so():
    text = inventory_text(datetime(2027, 3, 1).date())
    assert "written on 2027-03-01" in text
    assert "expires_at: 2027-03-04" in text and "expires_at: 2027-03-31" in text and "expires_at: 2027-02-27" in text


def test_the_installed_command_runs_the_demo_in_a_fresh_folder(tmp_path):
    renewbot = Path(sys.executable).parent / ("renewbot.exe" if os.name == "nt" else "renewbot")
    assert renewbot.is_file(), "tasks.py installs the project: the renewbot command must exist"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "TOKEN_"))}
    first = subprocess.run([str(renewbot), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert first.returncode == 0, first.stderr
    database = tmp_path / "data" / "renewbot.db"
    assert f"demo: created a new database at {database}" in first.stderr
    assert "SLACK_BOT_TOKEN is not set, so this is a dry run" in first.stderr
    assert "INFO" not in first.stderr  # no library chatter on a normal command
    assert sorted(stages_shown(first.stdout)) == ["30d", "3d", "expired"]
    again = subprocess.run([str(renewbot), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "created a new database" not in again.stderr
    assert sorted(stages_shown(again.stdout)) == ["30d", "3d", "expired"]


def test_the_installed_command_starts_the_sandbox_and_checks_its_page(tmp_path):
    """The README's main command (`python3 tasks.py demo`) runs this; --check starts, serves the page once, exits."""
    renewbot = Path(sys.executable).parent / ("renewbot.exe" if os.name == "nt" else "renewbot")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "TOKEN_"))}
    run = subprocess.run([str(renewbot), "sandbox", "--check", "--port", "0"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert re.search(r"sandbox: open http://127\.0\.0\.1:\d+/", run.stdout) and "served the page" in run.stdout
    assert (tmp_path / "data" / "sandbox.db").is_file() and not (tmp_path / "data" / "renewbot.db").exists()
    assert "Traceback" not in run.stderr and "xoxb-" not in run.stdout + run.stderr
