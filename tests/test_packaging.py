"""renewbot installs as a package: the wheel holds our packages and the migrations, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ beside the sources, and the checkout must stay clean.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("renewbot", "handlers", "jobs", "storage", "bench", "tests"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # No build isolation: the test extra brings setuptools, so this needs no network.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(out), str(source)], check=True, capture_output=True)
    (built,) = out.glob("renewbot-*.whl")
    return built


def test_the_wheel_holds_our_packages_and_migrations_and_no_tests_or_benchmarks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("renewbot-")}
    assert top == {"renewbot", "handlers", "jobs", "storage"}
    assert "storage/migrations/env.py" in names and "storage/migrations/script.py.mako" in names
    migrations = sorted(p.name for p in (ROOT / "storage" / "migrations" / "versions").glob("*.py"))
    assert migrations and all(f"storage/migrations/versions/{m}" in names for m in migrations)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "renewbot = renewbot.runtime.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_package_runs_from_any_folder_and_says_where_its_database_is(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "cron-job-folder"
    elsewhere.mkdir()
    # Only the installed copy and the dependencies: not the checkout.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "TOKEN_"))}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run([sys.executable, "-c",
                            "import renewbot, storage; print(renewbot.__file__, storage.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(site) in where
    first = subprocess.run([sys.executable, "-m", "renewbot", "migrate"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    database = elsewhere / "data" / "renewbot.db"
    assert database.is_file()
    assert first.stderr.strip() == f"migrate: created a new database at {database}"
    assert first.stdout.strip() == "migrate: applied pending migrations"
    again = subprocess.run([sys.executable, "-m", "renewbot", "migrate"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stderr, again.stdout.strip()) == (0, "", "migrate: the database is up to date")


def test_the_lock_pins_every_dependency_within_its_range_with_hashes():
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {canonicalize_name(m[0]): m[1] for m in re.findall(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", lock, re.M)}
    for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in requirements.lock: run python3 tasks.py lock"
        assert req.specifier.contains(pinned[name], prereleases=True), f"{req.name}=={pinned[name]} is outside {req}"
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in entry for entry in entries if "==" in entry)
