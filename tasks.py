"""Developer entry points that need nothing but Python: `python3 tasks.py demo|test`.

Each command creates ./.venv and installs the dependencies named in
pyproject.toml (only when they changed), so a fresh machine needs no other step.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".renewbot-deps"


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


def ensure_venv() -> None:
    reqs = _requirements()
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing dependencies into .venv ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *reqs], check=True)
    STAMP.write_text(digest)


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def demo() -> int:
    # Without Slack credentials `scan` falls back to a dry run and prints the notices.
    code = run("bot.py", "import", "examples/tokens.yml")
    return code or run("bot.py", "scan")


def test(extra: list[str]) -> int:
    return run("-m", "pytest", *extra)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test"}:
        print("usage: python3 tasks.py demo | test [pytest args]", file=sys.stderr)
        return 2
    ensure_venv()
    return demo() if argv[0] == "demo" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
