"""What an internet scanner can do to `serve`: memory under a flood of huge unsigned bodies, and latency
of /healthz and of a signed command while hundreds of half-sent requests hold connections open.

`python -m bench.http_abuse [--quick] [--bodies N] [--body-mib M] [--idle N]`
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

from bench.common import ROOT, budget, median, percentile, write_result
from bench.footprint import base_env, free_port, rss_mb
from tests.support.slack_requests import post_signed, slash_command_body
from tests.support.slack_standin import SlackStandin

MIB = 1024 * 1024
SIGNING_SECRET = "bench-signing-secret"


def start_serve(slack: SlackStandin, tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**base_env(tmp / "bench.db"), "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.url, "PORT": str(port), "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve"], env=env, cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not become healthy") from None
            time.sleep(0.05)


def flood(port: int, bodies: int, size: int) -> list[str]:
    """`bodies` parallel unsigned POSTs of `size` bytes each; the status line each one got (or "")."""
    headers = (f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               f"Content-Length: {size}\r\n\r\n").encode()
    answers: list[str] = []

    def one() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(headers)
            try:
                for _ in range(size // MIB):
                    sock.sendall(b"\0" * MIB)
            except OSError:
                pass  # answered and closed before taking it all
            try:
                answers.append(sock.recv(64).split(b"\r\n")[0].decode(errors="replace"))
            except OSError:
                answers.append("")

    threads = [threading.Thread(target=one) for _ in range(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return answers


def under_idle(port: int, slack: SlackStandin, idle: int, probes: int) -> dict:
    sockets = []
    try:
        for _ in range(idle):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            sockets.append(s)
        health, acks = [], []
        for _ in range(probes):
            started = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
                resp.read()
            health.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            status, _, _ = post_signed(f"http://127.0.0.1:{port}/slack/events",
                                       slash_command_body(text="help", response_url=slack.response_url()),
                                       SIGNING_SECRET)
            assert status == 200
            acks.append((time.perf_counter() - started) * 1000)
        return {"healthz_ms": health, "command_ack_ms": acks}
    finally:
        for s in sockets:
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--bodies", type=int, default=10)
    parser.add_argument("--body-mib", type=int, default=200)
    parser.add_argument("--idle", type=int, default=300)
    args = parser.parse_args()
    bodies, size_mib, idle, probes = (3, 8, 50, 5) if args.quick else (args.bodies, args.body_mib, args.idle, 50)
    with SlackStandin() as slack, tempfile.TemporaryDirectory() as tmp:
        proc, port = start_serve(slack, Path(tmp))
        try:
            before_mb = rss_mb(proc.pid)[0]
            started = time.monotonic()
            answers = flood(port, bodies, size_mib * MIB)
            flood_s = time.monotonic() - started
            peak_mb = rss_mb(proc.pid)[1]
            idle_figures = under_idle(port, slack, idle, probes)
        finally:
            proc.terminate()
            proc.wait(15)
    statuses = sorted({a.split(" ")[1] if a.count(" ") else "(closed)" for a in answers})
    health_p99, ack_p99 = percentile(idle_figures["healthz_ms"], 99), percentile(idle_figures["command_ack_ms"], 99)
    table = [["measure", "figure"],
             [f"{bodies} parallel unsigned {size_mib} MiB bodies: answers", ", ".join(statuses)],
             ["  serve RSS before / peak (MB)", f"{before_mb:.0f} / {peak_mb:.0f}"],
             ["  time until every sender had its answer (s)", f"{flood_s:.2f}"],
             [f"/healthz with {idle} half-sent requests open: p50 / p99 (ms)",
              f"{median(idle_figures['healthz_ms']):.1f} / {health_p99:.1f}"],
             [f"signed command ack with {idle} half-sent requests open: p50 / p99 (ms)",
              f"{median(idle_figures['command_ack_ms']):.1f} / {ack_p99:.1f}"]]
    budgets = [budget("peak RSS under the body flood", "< 150 MB", f"{peak_mb:.0f}", peak_mb < 150, " MB"),
               budget("every flood answer 413 or 401", "yes", ", ".join(statuses),
                      set(statuses) <= {"413", "401"}),
               budget(f"/healthz p99 with {idle} idle connections", "<= 1000 ms", f"{health_p99:.1f}",
                      health_p99 <= 1000, " ms"),
               budget(f"command ack p99 with {idle} idle connections", "<= 3000 ms", f"{ack_p99:.1f}",
                      ack_p99 <= 3000, " ms")]
    write_result("http_abuse", params={"bodies": bodies, "body_mib": size_mib, "idle": idle, "probes": probes},
                 results={"answers": answers, "rss_before_mb": before_mb, "rss_peak_mb": peak_mb,
                          "flood_s": flood_s, **idle_figures},
                 budgets=budgets, table=table,
                 notes=("A real `bot.py serve` (waitress with renewbot's options, SQLite) and the Slack stand-in. "
                        "The flood's bodies are refused from their Content-Length (waitress's "
                        "max_request_body_size = MAX_BODY_BYTES, 1 MiB) before they are read, so memory does not "
                        "grow with them. The half-sent requests each hold a connection until channel_timeout "
                        "(30 s); waitress serves others meanwhile (connection_limit 1000, poll())."))


if __name__ == "__main__":
    main()
