"""Developer entry points that need nothing but Python: `python3 tasks.py demo|test|lint|lock`.

`demo` starts the sandbox (`renewbot sandbox`: the real bot, a stand-in Slack and a page; extra arguments such as
`--port 8081` or `--check` go to it).

Each command creates ./.venv and installs into it, when pyproject.toml or the lock changed: first
every dependency from requirements.lock, pinned and hash-checked, then renewbot itself (editable,
no dependencies of its own: pip refuses editable installs in hash-checking mode). So a fresh machine
needs no other step, and the commands run are the installed `renewbot` command, as a user's.
`lock` rewrites requirements.lock from pyproject.toml's ranges (after changing them).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
RENEWBOT = BIN / ("renewbot.exe" if os.name == "nt" else "renewbot")
STAMP = VENV / ".renewbot-install"
LOCK = ROOT / "requirements.lock"


def ensure_venv() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists() and RENEWBOT.exists():
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    print("installing the locked dependencies, then renewbot (editable) into .venv ...", flush=True)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(digest)


def run(*args: str) -> int:
    return subprocess.call([*args], cwd=ROOT)


def demo(extra: list[str] | None = None) -> int:
    # The sandbox: the real bot against a stand-in Slack, shown as a page on 127.0.0.1 (its URL is printed).
    # `renewbot demo` still runs the one-scan demo that prints its notices in the terminal.
    return run(str(RENEWBOT), "sandbox", *(extra or []))


def test(extra: list[str]) -> int:
    return run(str(PYTHON), "-m", "pytest", *extra)


def lint() -> int:
    return run(str(PYTHON), "-m", "ruff", "check", ".")


def lock() -> int:
    """Pins every dependency (the test extra included) for every platform, with hashes, using uv."""
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "uv"], check=True)
    return run(str(PYTHON), "-m", "uv", "pip", "compile", "pyproject.toml", "--extra", "test", "--generate-hashes",
               "--universal", "--python-version", "3.11", "--quiet", "-o", str(LOCK.name))


def main(argv: list[str]) -> int:
    commands = {"demo": lambda: demo(argv[1:]), "test": lambda: test(argv[1:]), "lint": lint, "lock": lock}
    if not argv or argv[0] not in commands:
        print("usage: python3 tasks.py demo [--port N] | test [pytest args] | lint | lock", file=sys.stderr)
        return 2
    ensure_venv()
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
