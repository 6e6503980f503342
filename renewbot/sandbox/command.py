"""`renewbot sandbox [--port 8080] [--check]`: start the sandbox, say where it is, serve until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import urllib.request

from renewbot.runtime.logs import configure_logging
from renewbot.sandbox.session import Sandbox


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, metavar="N",
                        help="serve the page on 127.0.0.1:N (default 8080; 0 picks a free port)")
    parser.add_argument("--check", action="store_true",
                        help="start everything, fetch the page once, print its address and exit (for CI)")


def run(*, port: int, check: bool) -> int:
    if not 0 <= port <= 65535:
        print("sandbox: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    sandbox = Sandbox(port=port).start()
    try:
        # Made per run and never shown; redacted should a library ever log one.
        configure_logging(secrets=sandbox.secret_values)
        print(f"sandbox: open {sandbox.url} — the real bot against a stand-in Slack, on this machine only "
              f"(database: {sandbox.database}, started afresh on each run)", flush=True)
        if check:
            with urllib.request.urlopen(sandbox.url, timeout=30) as response:
                served = len(response.read())
            print(f"sandbox: --check: served the page ({served} bytes), stopping", flush=True)
            return 0
        print("sandbox: Ctrl-C stops it", flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        sandbox.stop()
