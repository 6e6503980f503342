"""Footprint: serve's idle memory and time to healthy; scan's whole-process time on an empty database.

`python -m bench.footprint [--quick] [--repeat N]`
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, budget, median, write_result
from tests.support.slack_standin import SlackStandin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def base_env(db: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**env, "DATABASE_URL": f"sqlite:///{db}"}


def serve_run(slack: SlackStandin, idle_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = {**base_env(db), "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench-secret",
               "SLACK_API_URL": slack.url}
        subprocess.run([sys.executable, str(ROOT / "bot.py"), "import", str(ROOT / "examples" / "tokens.yml")],
                       env=env, cwd=tmp, check=True, capture_output=True)
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve"], env={**env, "PORT": str(port)},
                                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError("serve exited during start-up") from None
                    time.sleep(0.02)
            healthy = time.monotonic() - started
            time.sleep(idle_s)
            rss, hwm = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
    return {"healthy_s": healthy, "idle_rss_mb": rss, "peak_rss_mb": hwm}


def scan_run(migrated: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = base_env(db)
        if migrated:
            subprocess.run([sys.executable, str(ROOT / "bot.py"), "migrate"], env=env, cwd=tmp, check=True,
                           capture_output=True)
        started = time.monotonic()
        subprocess.run([sys.executable, str(ROOT / "bot.py"), "scan", "--dry-run"], env=env, cwd=tmp, check=True,
                       capture_output=True)
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one run, 1 s idle (for the test suite)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    repeat, idle = (1, 1.0) if args.quick else (args.repeat, 5.0)
    with SlackStandin() as slack:
        serves = [serve_run(slack, idle) for _ in range(repeat)]
    scans_empty = [scan_run(migrated=True) for _ in range(repeat)]
    scans_new = [scan_run(migrated=False) for _ in range(repeat)]
    healthy, rss = median([s["healthy_s"] for s in serves]), median([s["idle_rss_mb"] for s in serves])
    scan_empty, scan_new = median(scans_empty), median(scans_new)
    table = [["measure", "median", "runs", "budget"],
             ["serve idle RSS (MB), after start-up scan and idle", f"{rss:.1f}", repeat, "<= 120"],
             ["serve healthy after start (s)", f"{healthy:.2f}", repeat, "<= 2"],
             ["scan --dry-run, migrated empty database (s, whole process)", f"{scan_empty:.2f}", repeat, "<= 1"],
             ["scan --dry-run, brand-new database incl. migrations (s)", f"{scan_new:.2f}", repeat, "(not budgeted)"]]
    budgets = [budget("serve idle RSS", "<= 120 MB", f"{rss:.1f}", rss <= 120, " MB"),
               budget("healthy after start", "<= 2 s", f"{healthy:.2f}", healthy <= 2, " s"),
               budget("scan on an empty database (whole process)", "<= 1 s", f"{scan_empty:.2f}",
                      scan_empty <= 1, " s")]
    write_result("footprint", params={"repeat": repeat, "idle_s": idle, "database": "sqlite"},
                 results={"serve": serves, "scan_empty_s": scans_empty, "scan_new_db_s": scans_new},
                 budgets=budgets, table=table,
                 notes=("serve runs with the example tokens imported and the Slack stand-in answering, so its "
                        "start-up scan posts; RSS is read from /proc after the idle period. Scan times include "
                        "the interpreter's start-up and imports (SQLAlchemy, slack_sdk, alembic)."))


if __name__ == "__main__":
    main()
