"""Developer entry points that need nothing but Python: `python3 tasks.py demo|test|lint`.

Each command creates ./.venv and installs renewbot into it (editable, with the
test extra) when pyproject.toml changed, so a fresh machine needs no other
step, and the commands run are the installed `renewbot` command, as a user's.
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


def ensure_venv() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists() and RENEWBOT.exists():
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing renewbot (editable, with the test extra) into .venv ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def run(*args: str) -> int:
    return subprocess.call([*args], cwd=ROOT)


def demo() -> int:
    # Writes a demo inventory dated from today, imports it, and scans. Without Slack credentials
    # the scan is a dry run that prints the notices.
    return run(str(RENEWBOT), "demo")


def test(extra: list[str]) -> int:
    return run(str(PYTHON), "-m", "pytest", *extra)


def lint() -> int:
    return run(str(PYTHON), "-m", "ruff", "check", ".")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "lint"}:
        print("usage: python3 tasks.py demo | test [pytest args] | lint", file=sys.stderr)
        return 2
    ensure_venv()
    if argv[0] == "demo":
        return demo()
    return test(argv[1:]) if argv[0] == "test" else lint()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
