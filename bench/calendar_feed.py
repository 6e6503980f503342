"""Calendar feed: how long GET /calendar.ics takes, and how big it is, for many tokens.

    python -m bench.calendar_feed [--quick] [--tokens 10000] [--repeat 5]

Makes a fresh SQLite database with the real migrations, bulk-loads N live tokens (a few retired, which the
feed leaves out), creates a calendar-scoped key, serves the bot's own WSGI app (make_wsgi_app) on waitress
with the production options, and fetches the feed over HTTP --repeat times: wall time (median and worst),
bytes, events, and the server process's peak RSS growth across the fetches (the feed is streamed a page
of tokens at a time, so it should not grow with N).

--quick (for tests): 500 tokens, one fetch. It writes bench/results/calendar_feed.json like every benchmark.
"""

from __future__ import annotations

import argparse
import http.client
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import budget, median, write_result

NAME = "calendar_feed"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TIME_BUDGET_MS = 2000.0  # 10,000 tokens, one fetch
RSS_BUDGET_MB = 50.0


def _load(engine, n: int) -> None:
    from storage.db import session_scope
    from storage.models import Token

    with session_scope(engine) as session:
        session.add_all(Token(id=f"token-{i:06d}", kind=("amazon-mws", "generic", "jwt")[i % 3],
                              name=f"Seller {i}, EU; prod", expires_at=NOW + timedelta(days=1 + i % 700),
                              notify_from=NOW, channel="C0ALERTS", owners=["U0OWNER", "S0TEAM"],
                              retired=i % 50 == 0) for i in range(n))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, repeat: int) -> dict:
    from waitress.server import create_server

    from renewbot.crypto import SecretBox
    from renewbot.runtime.config import Settings
    from renewbot.runtime.deps import Deps
    from renewbot.runtime.serve import build_app, waitress_options
    from renewbot.runtime.web import make_wsgi_app
    from renewbot.usecases.apikeys import create_key
    from storage.db import make_engine, session_scope
    from storage.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="renewbot-bench-calendar-"))
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    _load(engine, n)
    with session_scope(engine) as session:
        key = create_key(session=session, name="bench", scopes=["calendar"], now=NOW).key
    settings = Settings(slack_bot_token="xoxb-bench", slack_signing_secret="bench-signing-secret",
                        slack_app_token=None, slack_api_url="http://127.0.0.1:9/api/", database_url="sqlite://",
                        token_encryption_keys=(), port=0, scan_interval_minutes=15)
    deps = Deps(engine=engine, box=SecretBox(()), clock=lambda: NOW)
    wsgi = make_wsgi_app(build_app(settings, deps), engine, "bench-signing-secret", clock=deps.clock)
    server = create_server(wsgi, host="127.0.0.1", port=0, **{**waitress_options(settings), "threads": 4})

    def serve() -> None:
        try:
            server.run()
        except OSError:
            pass  # the listener closed under run() when the benchmark ends

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    times, size, events = [], 0, 0
    rss_before = _rss_mb()
    try:
        for _ in range(repeat):
            conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=120)
            started = time.perf_counter()
            conn.request("GET", "/calendar.ics", headers={"Authorization": f"Bearer {key}"})
            resp = conn.getresponse()
            body = resp.read()
            times.append((time.perf_counter() - started) * 1000)
            conn.close()
            assert resp.status == 200, resp.status
            size, events = len(body), body.count(b"BEGIN:VEVENT")
    finally:
        server.close()
        thread.join(5)
        engine.dispose()
    return {"tokens": n, "events": events, "bytes": size, "median_ms": median(times), "worst_ms": max(times),
            "rss_growth_mb": _rss_mb() - rss_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = (500, 1) if args.quick else (args.tokens, args.repeat)
    r = run(n, repeat)
    live = n - len(range(0, n, 50))
    table = [["tokens", "events", "body", "per event", "median ms", "worst ms", "server RSS growth MB"],
             [str(n), str(r["events"]), f"{r['bytes'] / 1e6:.2f} MB", f"{r['bytes'] / max(1, r['events']):.0f} B",
              f"{r['median_ms']:.0f}", f"{r['worst_ms']:.0f}", f"{r['rss_growth_mb']:.1f}"],
             ["budget (10,000 tokens)", "", "", "", f"{TIME_BUDGET_MS:.0f}", "", f"{RSS_BUDGET_MB:.0f}"]]
    scale = 10_000 / n
    write_result(NAME, params={"tokens": n, "repeat": repeat}, results=r, table=table, budgets=[
        budget("one event per live token", str(live), r["events"], r["events"] == live),
        budget("GET /calendar.ics, scaled to 10,000 tokens", f"{TIME_BUDGET_MS:.0f} ms",
               round(r["median_ms"] * scale), r["median_ms"] * scale <= TIME_BUDGET_MS, " ms"),
        budget("server RSS growth while serving", f"{RSS_BUDGET_MB:.0f} MB", round(r["rss_growth_mb"], 1),
               r["rss_growth_mb"] <= RSS_BUDGET_MB, " MB"),
    ], notes="One process serves and fetches. RSS growth is ru_maxrss after the fetches minus before: loading the "
             "tokens set the peak first, so it shows only that serving the feed never went above it.")


if __name__ == "__main__":
    main()
