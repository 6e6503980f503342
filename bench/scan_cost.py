"""Scan cost: does one `scan --dry-run` cost what the due tokens cost, not what the table holds?

    python -m bench.scan_cost [--quick] [--sizes 10000,100000,1000000] [--repeat 5]
                              [--backends sqlite,postgresql]

For each backend and size it makes a fresh database, applies the real migrations
(storage.migrate.upgrade), bulk-loads N tokens of which DUE are due now (expiring
in 1..29 days, so notify_from <= now) and the rest expire far ahead (notify_from
> now), links the due ones to accounts, gives a few of them an earlier notice
(so the dry run threads under it), runs ANALYZE, then measures, each in a fresh
child process so peak RSS belongs to that one measurement:

- whole:   `python bot.py scan --dry-run` as a user runs it (DATABASE_URL set):
           wall time and peak RSS (os.wait4 gives the child's own ru_maxrss).
- query:   list(queries.tokens_due(...)) alone, timed in-process.
- dryrun:  cli.dry_run_lines(engine, now), timed in-process.
- startup: what bot.py does before the command: upgrade() (a no-op here) and
           check_keys(), timed in-process.
- imports: `python -c "import bot, renewbot.runtime.commands; make_engine(url)"`: interpreter start-up
           and imports only, no database work, the floor under `whole`.

The in-process children connect once (a SELECT 1) before the timer starts; the
statements themselves are compiled cold, as in a real scan. Their peak RSS is
ru_maxrss of RUSAGE_SELF, so it includes the interpreter and every import. On
PostgreSQL the server's memory is in other processes and is not counted.
Medians over --repeat runs; the runs of the different kinds are interleaved.

--quick (for tests): 1,000 tokens, one run, SQLite only, no warm-up run and no
-X importtime profile. Like every benchmark it
writes bench/results/scan_cost.json, so it replaces the figures of a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, budget, elapsed_log, median, per_backend, sizes_and_backends, write_result

NAME = "scan_cost"
DUE = 100
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
PG_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")
PG_DB = "renewbot_bench"
WORK_BUDGET_MS = 500.0
RSS_BUDGET_MB = 200.0

KINDS = ("amazon-mws", "amazon-sp-api", "generic")
CHANNELS = ("C0123ALERTS", "C0456OPS", "C0789PAYMENTS", "C0ABCMARKET")
TOKEN_COLUMNS = ("id", "kind", "name", "expires_at", "notify_from", "channel", "owners", "app_id",
                 "notify_days", "secret_encrypted", "version")
NOTICE_COLUMNS = ("token_id", "expires_at", "stage", "state", "channel", "ts", "root_ts", "attempts",
                  "created_at", "sent_at")


# --- data -------------------------------------------------------------------

def make_dataset(n: int, now: datetime, seed: int = 1234) -> dict:
    """The plan of the data: which rows are due, their links and earlier notices. Tokens are generated lazily."""
    from renewbot.domain.thresholds import DEFAULT_LADDER, stage_for  # the bot's own rule for the stage of a due token

    rng = random.Random(seed + n)
    due_count = min(DUE, n)
    due_at = {i: now + timedelta(days=rng.uniform(1, 29)) for i in rng.sample(range(n), due_count)}
    accounts = [(f"acct-{a:02d}", f"Marketplace account {a:02d}", a % 7 != 0, a % 5 != 0,
                 f"https://commerce.example/configuration/accounts/acct-{a:02d}" if a % 2 == 0 else None)
                for a in range(20)]
    links, notices = [], []
    for k, (i, expires) in enumerate(sorted(due_at.items())):
        tid = token_id(i)
        for pos, a in enumerate(rng.sample(range(len(accounts)), 1 + k % 3)):
            links.append((tid, accounts[a][0], pos))
        stage = stage_for(expires, now, DEFAULT_LADDER)
        if k % 3 == 0 and stage != "30d":
            # An earlier crossing was already posted: the dry run replies in its thread.
            sent = now - timedelta(days=2)
            ts = f"{1_700_000_000 + k}.000100"
            notices.append((tid, expires, "30d", "sent", channel_of(i), ts, ts, 1, sent, sent))
    return {"n": n, "now": now, "due_at": due_at, "accounts": accounts, "links": links, "notices": notices,
            "far_rng_seed": seed * 7 + n, "ladder_days": max(DEFAULT_LADDER)}


def token_id(i: int) -> str:
    return f"tok-{i:07d}"


def channel_of(i: int) -> str:
    return CHANNELS[i % len(CHANNELS)]


def token_rows(ds: dict, fmt):
    """Yields every token row in TOKEN_COLUMNS order; fmt turns an aware UTC datetime into the bound value."""
    rng = random.Random(ds["far_rng_seed"])
    now, due_at, lead = ds["now"], ds["due_at"], timedelta(days=ds["ladder_days"])
    uniform = rng.uniform
    for i in range(ds["n"]):
        expires = due_at.get(i)
        if expires is None:  # not due: its first threshold is at least 15 days away
            expires = now + timedelta(days=uniform(45, 5 * 365))
        kind = KINDS[i % 3]
        yield (token_id(i), kind, f"Token {i} ({kind})", fmt(expires), fmt(expires - lead), channel_of(i),
               '["U0123OWNER"]' if i % 4 == 0 else "[]",
               str(532_089_569_783 + i) if kind == "amazon-mws" else None,
               "null",  # JSON null, as the importer writes a token without notify_days
               None, 1)


def sqlite_dt(value: datetime) -> str:
    # What storage.types.UTCDateTime + SQLAlchemy's SQLite DATETIME store: naive UTC with microseconds.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def migrate(url: str) -> None:
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def load_sqlite(path: Path, ds: dict) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=DELETE")  # one big transaction, no WAL the size of the table
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.executemany("INSERT INTO account (id, name, enabled, fetch_orders, settings_url) VALUES (?,?,?,?,?)",
                        ds["accounts"])
        con.executemany(f"INSERT INTO token ({', '.join(TOKEN_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(TOKEN_COLUMNS))})",
                        token_rows(ds, sqlite_dt))
        con.executemany("INSERT INTO tokenaccount (token_id, account_id, position) VALUES (?,?,?)", ds["links"])
        con.executemany(f"INSERT INTO notice ({', '.join(NOTICE_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(NOTICE_COLUMNS))})",
                        [tuple(sqlite_dt(v) if isinstance(v, datetime) else v for v in row) for row in ds["notices"]])
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA journal_mode=WAL")  # as make_engine leaves it
    finally:
        con.close()


def pg_admin():
    import psycopg

    last = None
    for url in PG_ADMIN_URLS:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=5), url
        except psycopg.Error as exc:
            last = exc
    raise RuntimeError(f"PostgreSQL unavailable: {last}")


def pg_recreate(drop_only: bool = False, *, name: str = PG_DB) -> str:
    """Drops the benchmark's PostgreSQL database `name` (and makes it anew unless drop_only); returns its URL."""
    conn, admin_url = pg_admin()
    with conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def load_postgres(url: str, ds: dict) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO account (id, name, enabled, fetch_orders, settings_url) "
                            "VALUES (%s,%s,%s,%s,%s)", ds["accounts"])
            with cur.copy(f"COPY token ({', '.join(TOKEN_COLUMNS)}) FROM STDIN") as copy:
                for row in token_rows(ds, lambda v: v):
                    copy.write_row(row)
            cur.executemany("INSERT INTO tokenaccount (token_id, account_id, position) VALUES (%s,%s,%s)",
                            ds["links"])
            cur.executemany(f"INSERT INTO notice ({', '.join(NOTICE_COLUMNS)}) "
                            f"VALUES ({', '.join(['%s'] * len(NOTICE_COLUMNS))})", ds["notices"])
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def query_plan(url: str, now: datetime) -> list[str]:
    """EXPLAIN of the exact SQL tokens_due sends, caught on its way to the driver."""
    from sqlalchemy import event
    from sqlmodel import Session

    from storage import queries
    from storage.db import make_engine

    engine = make_engine(url)
    seen: list[tuple[str, object]] = []

    def catch(conn, cursor, statement, parameters, context, executemany):
        if "FROM token" in statement and "notify_from" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        with Session(engine) as session:
            list(queries.tokens_due(session=session, now=now))
        statement, parameters = seen[0]
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            if engine.dialect.name == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                return [str(row[-1]) for row in cur.fetchall()]
            cur.execute("EXPLAIN " + statement, parameters)
            return [str(row[0]) for row in cur.fetchall()]
        finally:
            raw.close()
    finally:
        engine.dispose()


# --- measurement ----------------------------------------------------------------

def run_measured(argv: list[str], env: dict | None = None) -> dict:
    """Runs one child; wall ms from spawn to exit, and that child's own peak RSS (os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall_ms = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr[-2000:]}")
    return {"wall_ms": wall_ms, "rss_mb": usage.ru_maxrss / 1024, "stdout": stdout, "stderr": stderr}


def child_env(url: str) -> dict:
    env = dict(os.environ, DATABASE_URL=url)
    env.pop("SLACK_BOT_TOKEN", None)  # --dry-run anyway; never post from a benchmark
    return env


def run_child(kind: str, url: str) -> dict:
    res = run_measured([sys.executable, "-m", "bench.scan_cost", "--child", kind], env=child_env(url))
    data = json.loads(res["stdout"].strip().splitlines()[-1])
    data["child_wall_ms"] = res["wall_ms"]
    return data


def run_whole(url: str) -> dict:
    res = run_measured([sys.executable, "bot.py", "scan", "--dry-run"], env=child_env(url))
    posts = sum(1 for line in res["stdout"].splitlines() if line.startswith("[dry-run] would post"))
    return {"wall_ms": res["wall_ms"], "rss_mb": res["rss_mb"], "posts": posts}


def imports_argv() -> list[str]:
    return [sys.executable, "-c", "import os, bot, renewbot.runtime.commands; from storage.db import make_engine; "
                                  "make_engine(os.environ['DATABASE_URL'])"]


def import_profile(url: str, top: int = 8) -> list[tuple[str, float]]:
    """Where the import time of bot.py's path goes (python -X importtime): self ms summed per top-level package."""
    res = run_measured([sys.executable, "-X", "importtime", *imports_argv()[1:]], env=child_env(url))
    per_package: dict[str, float] = {}
    for line in res["stderr"].splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            root = m.group(3).split(".")[0]
            per_package[root] = per_package.get(root, 0.0) + int(m.group(1)) / 1000
    return sorted(((k, round(v, 1)) for k, v in per_package.items()), key=lambda x: -x[1])[:top]


def child_main(kind: str) -> None:
    """Runs inside a fresh interpreter; prints one JSON line."""
    import resource

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t_imp = time.perf_counter()
    from sqlmodel import Session

    import bot  # noqa: F401  (the same modules the real command loads)
    from renewbot.crypto import SecretBox
    from renewbot.runtime import commands as cli
    from renewbot.usecases.keys import check_keys
    from storage import queries
    from storage.db import make_engine, ping
    from storage.migrate import upgrade

    import_ms = (time.perf_counter() - t_imp) * 1000
    engine = make_engine(os.environ["DATABASE_URL"])
    ping(engine)  # connection set-up is not the scan's work
    now = datetime.now(UTC)
    before = peak_mb()
    out: dict = {"kind": kind, "import_ms": import_ms}
    t0 = time.perf_counter()
    if kind == "query":
        with Session(engine) as session:
            out["found"] = len(list(queries.tokens_due(session=session, now=now)))
    elif kind == "dryrun":
        lines = cli.dry_run_lines(engine, now)
        out["posts"] = sum(1 for line in lines if line.startswith("[dry-run] would post"))
        out["threaded"] = sum(1 for line in lines if "reply in thread" in line)
    elif kind == "startup":
        t = time.perf_counter()
        upgrade(engine)
        out["upgrade_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        check_keys(engine, SecretBox(()))
        out["check_keys_ms"] = (time.perf_counter() - t) * 1000
    else:
        raise SystemExit(f"unknown child kind {kind!r}")
    out["ms"] = (time.perf_counter() - t0) * 1000
    out["rss_before_mb"] = before
    out["rss_mb"] = peak_mb()
    engine.dispose()
    print(json.dumps(out))


def measure(backend: str, url: str, n: int, repeat: int, warm_up: bool = True) -> dict:
    # Untimed: the first read after the load, and a check that the command works.
    warm = run_whole(url) if warm_up else None
    runs: dict[str, list[dict]] = {"whole": [], "query": [], "dryrun": [], "startup": [], "imports": []}
    for _ in range(repeat):
        runs["whole"].append(run_whole(url))
        runs["query"].append(run_child("query", url))
        runs["dryrun"].append(run_child("dryrun", url))
        runs["startup"].append(run_child("startup", url))
        imp = run_measured(imports_argv(), env=child_env(url))
        runs["imports"].append({"wall_ms": imp["wall_ms"], "rss_mb": imp["rss_mb"]})

    def med(kind: str, key: str) -> float:
        return round(median([r[key] for r in runs[kind]]), 1)

    def peak(kind: str, key: str = "rss_mb") -> float:
        return round(max(r[key] for r in runs[kind]), 1)

    found = sorted({r["found"] for r in runs["query"]})
    posts = sorted({r["posts"] for r in runs["dryrun"]} | {r["posts"] for r in runs["whole"]}
                   | ({warm["posts"]} if warm else set()))
    return {
        "backend": backend, "tokens": n, "due_expected": min(DUE, n), "due_found": found, "dry_run_posts": posts,
        "threaded": sorted({r["threaded"] for r in runs["dryrun"]}),
        "query_ms": med("query", "ms"), "dryrun_ms": med("dryrun", "ms"),
        "query_min_ms": round(min(r["ms"] for r in runs["query"]), 1),
        "dryrun_min_ms": round(min(r["ms"] for r in runs["dryrun"]), 1),
        "whole_ms": med("whole", "wall_ms"), "whole_rss_mb": peak("whole"),
        "imports_ms": med("imports", "wall_ms"), "imports_rss_mb": peak("imports"),
        "startup_ms": med("startup", "ms"), "upgrade_ms": med("startup", "upgrade_ms"),
        "check_keys_ms": med("startup", "check_keys_ms"),
        "query_child_rss_mb": peak("query"), "dryrun_child_rss_mb": peak("dryrun"),
        "dryrun_child_rss_before_mb": peak("dryrun", "rss_before_mb"),
        "query_child_rss_before_mb": peak("query", "rss_before_mb"),
        "runs": {k: [{kk: (round(vv, 2) if isinstance(vv, float) else vv) for kk, vv in r.items()} for r in v]
                 for k, v in runs.items()},
    }


# --- driver -------------------------------------------------------------------------

def bench_backend(backend: str, sizes: list[int], repeat: int, workdir: Path, log,
                  quick: bool = False) -> tuple[list[dict], dict]:
    rows, extra = [], {}
    for n in sizes:
        now = datetime.now(UTC)
        ds = make_dataset(n, now)
        t0 = time.perf_counter()
        if backend == "sqlite":
            path = workdir / f"scan-{n}.db"
            for p in workdir.glob(f"scan-{n}.db*"):
                p.unlink()
            url = f"sqlite:///{path}"
            migrate(url)
            load_sqlite(path, ds)
        else:
            url = pg_recreate()
            migrate(url)
            load_postgres(url, ds)
        load_s = time.perf_counter() - t0
        log(f"{backend} {n:,}: loaded in {load_s:.1f} s; measuring x{repeat}")
        plan = query_plan(url, datetime.now(UTC))
        row = measure(backend, url, n, repeat, warm_up=not quick)
        row["load_s"] = round(load_s, 1)
        row["plan"] = plan
        rows.append(row)
        log(f"{backend} {n:,}: due found {row['due_found']}, query {row['query_ms']} ms, dry-run work "
            f"{row['dryrun_ms']} ms, whole {row['whole_ms']} ms, peak RSS {row['whole_rss_mb']} MB")
        if n == max(sizes) and not quick:
            extra["import_profile"] = import_profile(url)
        if backend == "sqlite":
            for p in workdir.glob(f"scan-{n}.db*"):
                p.unlink()
    return rows, extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scan_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 tokens, one run, SQLite only")
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    sizes, repeat, backends = sizes_and_backends(args, parser, quick_size=1000)
    started = time.perf_counter()
    log = elapsed_log(6)
    results: list[dict] = []
    extras: dict[str, dict] = {}
    workdir = Path(tempfile.mkdtemp(prefix="renewbot-scan-cost-"))

    def run(backend: str) -> None:
        rows, extras[backend] = bench_backend(backend, sizes, repeat, workdir, log, quick=args.quick)
        results.extend(rows)

    try:
        skipped = per_backend(backends, run, log, reset=lambda: pg_recreate(drop_only=True))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    run_s = round(time.perf_counter() - started, 1)

    table = [["backend", "tokens", "due found", "due query ms (median)", "dry-run work ms (median)",
              "whole process ms (median)", "peak RSS MB (whole process)"]]
    budgets, notes = [], []
    for r in results:
        table.append([r["backend"], f"{r['tokens']:,}", "/".join(str(f) for f in r["due_found"]),
                      f"{r['query_ms']:.1f}", f"{r['dryrun_ms']:.1f}", f"{r['whole_ms']:.0f}",
                      f"{r['whole_rss_mb']:.0f}"])
    for backend in backends:
        mine = [r for r in results if r["backend"] == backend]
        if not mine:
            continue
        big, small = mine[-1], mine[0]
        n = f"{big['tokens']:,}"
        budgets.append(budget(f"{backend}: dry-run work at {n} tokens (median)", f"<= {WORK_BUDGET_MS:.0f} ms",
                              big["dryrun_ms"], big["dryrun_ms"] <= WORK_BUDGET_MS, " ms"))
        rss = max(big["whole_rss_mb"], big["dryrun_child_rss_mb"], big["query_child_rss_mb"])
        budgets.append(budget(f"{backend}: peak RSS of scan --dry-run at {n} tokens", f"<= {RSS_BUDGET_MB:.0f} MB",
                              round(rss, 1), rss <= RSS_BUDGET_MB, " MB"))
        wrong = [r["tokens"] for r in mine if r["due_found"] != [r["due_expected"]]
                 or r["dry_run_posts"] != [r["due_expected"]]]
        due_text = (f"due found = {DUE} at every size" if not wrong
                    else f"DUE COUNT WRONG at {', '.join(f'{w:,}' for w in wrong)}")
        plan_line = next((p for p in big["plan"] if "ix_token_notify_from" in p), big["plan"][0] if big["plan"] else "")
        ratio = (f"; from {small['tokens']:,} to {n} tokens the dry-run work goes {small['dryrun_ms']} -> "
                 f"{big['dryrun_ms']} ms (fastest run {small['dryrun_min_ms']} -> {big['dryrun_min_ms']} ms), "
                 f"the due query {small['query_ms']} -> {big['query_ms']} ms (fastest {small['query_min_ms']} -> "
                 f"{big['query_min_ms']} ms), and keys.check_keys() at start-up {small['check_keys_ms']} -> "
                 f"{big['check_keys_ms']} ms" if len(mine) > 1 else "")
        if len(mine) > 1 and big["check_keys_ms"] > 3 * max(small["check_keys_ms"], 1.0):
            ratio += " (its count of stored secrets reads the whole token table: it follows the total)"
        prof = ", ".join(f"{name} {ms:.0f}" for name, ms in extras.get(backend, {}).get("import_profile", [])) \
            or "not measured with --quick"
        loads = ", ".join(f"{r['tokens']:,}: {r['load_s']} s" for r in mine)
        notes.append(
            f"{backend}: {due_text}{ratio}. Query plan at {n}: `{plan_line.strip()}`. "
            f"Whole process {big['whole_ms']:.0f} ms = interpreter + imports "
            f"(`import bot, commands` + make_engine: {big['imports_ms']:.0f} ms, {big['imports_rss_mb']:.0f} MB) "
            f"+ start-up checks ({big['startup_ms']:.1f} ms: upgrade() no-op {big['upgrade_ms']:.1f} ms, "
            f"check_keys() {big['check_keys_ms']:.1f} ms) + connecting + the dry-run work; import time by package "
            f"(-X importtime, self ms summed per package): {prof}. In-process peak RSS (ru_maxrss of the child itself, "
            f"interpreter and imports included): due query {big['query_child_rss_mb']:.0f} MB, dry-run work "
            f"{big['dryrun_child_rss_mb']:.0f} MB (after imports and connecting, before the work: "
            f"{big['dryrun_child_rss_before_mb']:.0f} MB). Load time {loads}."
        )
    for backend, why in skipped.items():
        notes.append(f"{backend}: SKIPPED ({why}).")
    notes.append(
        f"Each figure is the median of {repeat} fresh child process(es); peak RSS is the maximum over them "
        "(os.wait4 ru_maxrss of that child). 'dry-run work' is cli.dry_run_lines(engine, now) and 'due query' is "
        "list(queries.tokens_due(...)), timed with perf_counter after connecting; 'whole process' is the wall time "
        "of `python bot.py scan --dry-run`, Python start-up and imports included (the 0.5 s budget is for the work). "
        f"On PostgreSQL the server's own memory is not in these figures. Benchmark run time {run_s} s."
    )
    write_result(
        NAME,
        params={"quick": args.quick, "sizes": sizes, "repeat": repeat, "backends": backends, "due": DUE,
                "budgets": {"dry_run_work_ms": WORK_BUDGET_MS, "peak_rss_mb": RSS_BUDGET_MB}, "run_s": run_s,
                "skipped": skipped},
        results={"rows": results, "extras": extras},
        budgets=budgets, table=table, notes="\n\n".join(notes),
    )
    print(f"run time {run_s} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
