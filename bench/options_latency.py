"""The token picker's options load request at 100,000 tokens, through the real HTTP stack.

    python -m bench.options_latency [--quick] [--tokens N] [--requests R] [--backends sqlite,postgresql]

Each database (real migrations; PostgreSQL on 127.0.0.1:5432 when it answers, else skipped with the reason) holds
N tokens whose names share a long prefix ("Amazon EU SP-API authorization 000123"), in one of two shapes:
  - mine:   the person asking owns every token;
  - skewed: 1 token in 100 is theirs, the others are owned by someone else (the access rule then drops most
            candidates, and a short query makes the handler judge up to handlers.options.SCAN_LIMIT of them).
The Slack stand-in and the bot (waitress + bolt, tests/support/bot_server.py) run in this process. A request is a
signed block_suggestion POST to /slack/events until its answer (the options) is read: bolt, handlers/options.py,
storage/search.py and the database. Queries, in turn: "" (the picker opened), "a" and "7" (one character: name
prefix; substring), "amazon eu sp-api authorization 0001" (long shared prefix), "012345" (only the substring
phase finds it) and "zzz" (nothing: every phase runs to its end). The first request of each shape is reported
on its own (cold: the app's caches empty, the database's pages not yet read); R more per shape are timed after
one warm-up pass over the queries. Budget: p99 <= 300 ms per shape and backend.
--quick (for tests): 2,000 tokens, 24 requests, SQLite only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import budget, elapsed_log, median, percentile, write_result

NAME = "options_latency"
USER = "U0BENCH"
QUERIES = ("", "a", "7", "amazon eu sp-api authorization 0001", "012345", "zzz")
BUDGET_P99_MS = 300.0
PG_ADMIN = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


def load(engine, n: int, shape: str) -> None:
    from sqlalchemy import insert

    from storage.models import Token

    now = datetime.now(UTC)
    rows = [dict(id=f"amazon-eu-sp-{i:06d}", kind="amazon-sp-api", name=f"Amazon EU SP-API authorization {i:06d}",
                 expires_at=now + timedelta(days=30 + i % 300), notify_from=now + timedelta(days=i % 300),
                 channel="C0BENCH", owners=[USER] if shape == "mine" or i % 100 == 0 else ["U0SOMEONE"],
                 version=1, retired=False, expiry_known=True) for i in range(n)]
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(Token), rows[start:start + 5000])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE token")
        else:
            conn.exec_driver_sql("ANALYZE")


def fresh_database(backend: str, tmp: Path) -> tuple[str, object]:
    """(url, cleanup) for an empty database of this run's own."""
    import uuid

    from storage.db import make_engine

    if backend == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    last = None
    for admin in PG_ADMIN:
        try:
            engine = make_engine(admin).execution_options(isolation_level="AUTOCOMMIT")
            name = f"renewbot_bench_{uuid.uuid4().hex[:8]}"
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

            def drop(engine=engine, name=name):
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                engine.dispose()
            return admin.rsplit("/", 1)[0] + "/" + name, drop
        except Exception as exc:  # no server here: say so and skip it
            last = exc
    raise RuntimeError(f"PostgreSQL not reachable: {str(last).splitlines()[0] if last else 'no URL'}")


def measure(backend: str, n: int, requests: int, shape: str, tmp: Path, log) -> dict:
    from cryptography.fernet import Fernet

    from renewbot.blocks import ids
    from renewbot.crypto import SecretBox
    from renewbot.runtime.deps import Deps
    from storage.db import make_engine
    from storage.migrate import upgrade
    from tests.support.bot_server import BotServer, standin_settings
    from tests.support.slack_requests import block_suggestion_payload, form_payload_body
    from tests.support.slack_standin import SlackStandin

    url, cleanup = fresh_database(backend, tmp)
    try:
        engine = make_engine(url)
        upgrade(engine)
        started = time.monotonic()
        load(engine, n, shape)
        log(f"{backend}/{shape}: {n:,} tokens loaded in {time.monotonic() - started:.1f} s")
        view = {"id": "VBENCH", "type": "modal", "callback_id": ids.RENEW_MODAL, "hash": "1.1",
                "private_metadata": '{"token_id":null,"version":0,"channel":null}', "blocks": []}
        with SlackStandin() as slack:
            deps = Deps(engine=engine, box=SecretBox((Fernet.generate_key().decode(),)))
            with BotServer(standin_settings(slack.url), deps, slack) as bot:
                def ask(typed: str) -> tuple[float, int]:
                    body = form_payload_body(block_suggestion_payload(
                        action_id=ids.TOKEN_SELECT, block_id=ids.TOKEN_BLOCK, value=typed, view=view, user_id=USER))
                    began = time.monotonic()
                    status, _, answer = bot.post(body)
                    took = time.monotonic() - began
                    assert status == 200, status
                    return took, len(json.loads(answer)["options"])
                cold, cold_found = ask(QUERIES[0])
                found = {q: ask(q)[1] for q in QUERIES}  # warm-up pass: statements, pages, the access cache
                timings: dict[str, list[float]] = {q: [] for q in QUERIES}
                for i in range(requests):
                    q = QUERIES[i % len(QUERIES)]
                    timings[q].append(ask(q)[0])
        engine.dispose()
    finally:
        cleanup()
    every = [t for ts in timings.values() for t in ts]
    log(f"{backend}/{shape}: cold {cold * 1000:.0f} ms, p50 {median(every) * 1000:.1f} ms, "
        f"p99 {percentile(every, 99) * 1000:.1f} ms")
    return {"backend": backend, "shape": shape, "tokens": n, "requests": len(every), "cold": cold,
            "cold_options": cold_found, "options": found, "all": every, "by_query": timings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.options_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 tokens, 24 requests, SQLite only")
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    n, requests = (2000, 24) if args.quick else (args.tokens, max(len(QUERIES), args.requests))
    backends = ["sqlite"] if args.quick else [b.strip() for b in args.backends.split(",") if b.strip()]
    log = elapsed_log()
    results, skipped = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for shape in ("mine", "skewed"):
                try:
                    results.append(measure(backend, n, requests, shape, Path(tmp), log))
                except RuntimeError as exc:
                    skipped[backend] = str(exc)
                    log(f"{backend} skipped: {exc}")
                    break
    ms = lambda v: f"{v * 1000:.1f}"
    table = [["backend", "shape", "tokens", "requests", "cold ms", "p50 ms", "p99 ms", "max ms",
              "slowest query (p99 ms)"]]
    for r in results:
        worst = max(r["by_query"], key=lambda q: percentile(r["by_query"][q], 99))
        table.append([r["backend"], r["shape"], f"{r['tokens']:,}", str(r["requests"]), ms(r["cold"]),
                      ms(median(r["all"])), ms(percentile(r["all"], 99)), ms(max(r["all"])),
                      f"{worst!r} ({ms(percentile(r['by_query'][worst], 99))})"])
    budgets = [budget(f"{r['backend']}/{r['shape']}: options p99 at {r['tokens']:,} tokens",
                      f"<= {BUDGET_P99_MS:.0f}", float(ms(percentile(r["all"], 99))),
                      percentile(r["all"], 99) * 1000 <= BUDGET_P99_MS, " ms") for r in results]
    found = "; ".join(f"{r['backend']}/{r['shape']}: " + ", ".join(f"{q!r}→{c}" for q, c in r["options"].items())
                      for r in results)
    notes = ("A request: a signed block_suggestion POST to /slack/events (waitress, bolt's WSGI adapter) until its "
             "answer is read; the answer is the ack, so this is the whole options load as Slack waits for it. "
             "Queries rotate over " + ", ".join(repr(q) for q in QUERIES) + "; options returned per query: "
             + found + ". cold: the first request after the bot started (empty caches, statements not yet "
             "prepared). Client, bot and Slack stand-in share one process. "
             + (f"Skipped: {skipped}." if skipped else ""))
    write_result(NAME, params={"tokens": n, "requests": requests, "backends": backends, "queries": list(QUERIES)},
                 results=results, budgets=budgets, table=table, notes=notes)
    return 0 if all(b["ok"] for b in budgets) or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
