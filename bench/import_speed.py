"""Import speed: how long `bot.py import FILE.yml` takes for 100,000 and 1,000,000 tokens, and its peak memory.

    python -m bench.import_speed [--quick] [--sizes 100000,1000000] [--backends sqlite,postgresql]
                                 [--repeat 1] [--baseline FILE]

For each backend and size it writes an import file of N tokens (a few hundred
accounts, two team kinds, tokens grouped by channel and kind, varied
notify_days, owners and account lists, as a team's file would look), makes a
fresh database with the real migrations (storage.migrate.upgrade, not timed),
and runs the real command as a user does, each run in a fresh child process:

- fresh:     `python bot.py import tokens.yml` into the empty database;
- unchanged: the same command again (nothing to write);
- changed:   `python bot.py import changed.yml`, where 1% of the tokens differ:
             a quarter renamed, a quarter with a later expiry (version bump, notices superseded),
             a quarter with other accounts, a quarter with an earlier expiry (kept, reported).

Wall time is from spawn to exit (interpreter start-up and imports included);
peak RSS is that child's own ru_maxrss (os.wait4). On PostgreSQL the server's
memory is in other processes and is not counted. PostgreSQL runs in a scratch
database (renewbot_bench_import), dropped afterwards.

--code DIR runs bot.py from another checkout (the code before a change) and
--out FILE writes that run's raw rows there instead of bench/results; a later
run given --baseline FILE shows those figures next to its own.

--quick (for tests): 2,000 tokens, one run, SQLite only. Like every benchmark
it writes bench/results/import_speed.json, so it replaces the figures of a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench import scan_cost
from bench.common import ROOT, budget, elapsed_log, median, per_backend, sizes_and_backends, write_result
from bench.scan_cost import migrate

NAME = "import_speed"
DEFAULT_SIZES = (100_000, 1_000_000)
PG_DB = "renewbot_bench_import"
TIME_BUDGET_S = 15.0  # 100,000 tokens, SQLite: fresh import and unchanged re-import
RSS_BUDGET_MB = 1024.0  # 1,000,000 tokens: peak RSS of the import process
ACCOUNTS = 300
CHANNELS = 40
TEAM_KINDS = ("stripe-restricted", "partner-oauth")
KINDS = ("amazon-sp-api", "amazon-mws", "generic", *TEAM_KINDS)
LADDERS = (None, None, None, "[30, 14, 7, 3, 1]", "[60, 30, 7]", "[14, 3]")
START = date(2027, 1, 1)


# --- the import files -----------------------------------------------------------------------------

def _account(a: int) -> str:
    url = f"\n  settings_url: https://commerce.example/configuration/accounts/acct-{a:03d}" if a % 2 == 0 else ""
    enabled, fetch = ("false" if a % 7 == 0 else "true"), ("false" if a % 5 == 0 else "true")
    return (f"- id: acct-{a:03d}\n  name: Marketplace account {a:03d}\n"
            f"  enabled: {enabled}\n  fetch_orders: {fetch}{url}\n")


def _token(i: int, n: int, change: str | None = None) -> str:
    """Token i of n: the file runs through channels, then kinds within a channel, as a team's file is grouped."""
    per_channel = max(1, n // CHANNELS)
    channel = f"C{i // per_channel % CHANNELS:04d}TEAM"
    kind = KINDS[i * len(KINDS) // per_channel % len(KINDS)] if per_channel >= len(KINDS) else KINDS[i % len(KINDS)]
    rng = random.Random(i)
    expires = START + timedelta(days=rng.randrange(0, 3 * 365))
    name = f"{kind} token {i} for shop {i % 997}"
    accounts = sorted(rng.sample(range(ACCOUNTS), rng.randrange(0, 4)))
    if change == "name":
        name += " (renamed)"
    elif change == "later":
        expires += timedelta(days=90)
    elif change == "earlier":
        expires -= timedelta(days=30)
    elif change == "accounts":
        spare = next(a for a in range(i % ACCOUNTS, i % ACCOUNTS + 4) if a % ACCOUNTS not in accounts) % ACCOUNTS
        accounts = [spare, *accounts[1:]]
    lines = [f"- id: tok-{i:07d}", f"  kind: {kind}", f"  name: {name}", f"  expires_at: {expires.isoformat()}",
             f"  channel: {channel}"]
    if i % 3 == 0:
        lines.append(f"  owners: [U{i % 50:04d}OWNER{', S0TEAMGROUP' if i % 6 == 0 else ''}]")
    if accounts:
        lines.append("  accounts: [" + ", ".join(f"acct-{a:03d}" for a in accounts) + "]")
    if kind == "amazon-mws":
        lines.append(f'  app_id: "{532_089_569_783 + i}"')
    ladder = LADDERS[i % len(LADDERS)]
    if ladder:
        lines.append(f"  notify_days: {ladder}")
    return "\n".join(lines) + "\n"


CHANGES = ("name", "later", "accounts", "earlier")


def write_file(path: Path, n: int, changed: bool = False) -> None:
    """The whole file; `changed`: every 100th token differs (1%), the kinds of change in turn."""
    with path.open("w", encoding="utf-8") as f:
        f.write("kinds:\n")
        for k, kind in enumerate(TEAM_KINDS):
            f.write(f"- id: {kind}\n  label: Team kind {kind}\n  lifetime_days: {90 * (k + 1)}\n"
                    f"  notify_days: [{21 - 7 * k}, 7, 1]\n  steps:\n  - Roll the credential for {{app}}.\n"
                    "  - Paste it here.\n")
        f.write("accounts:\n")
        for a in range(ACCOUNTS):
            f.write(_account(a))
        f.write("tokens:\n")
        batch = []
        for i in range(n):
            change = CHANGES[i // 100 % len(CHANGES)] if changed and i % 100 == 0 else None
            batch.append(_token(i, n, change))
            if len(batch) >= 5000:
                f.write("".join(batch))
                batch.clear()
        f.write("".join(batch))


# --- databases ------------------------------------------------------------------------------------

def pg_recreate(drop_only: bool = False) -> str:
    return scan_cost.pg_recreate(drop_only, name=PG_DB)


def fresh_database(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        for p in workdir.glob("import.db*"):
            p.unlink()
        url = f"sqlite:///{workdir / 'import.db'}"
    else:
        url = pg_recreate()
    migrate(url)
    return url


def counts(url: str) -> dict:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("kind", "account", "token", "tokenaccount")}
    finally:
        engine.dispose()


# --- measurement ----------------------------------------------------------------------------------

def run_import(code: Path, url: str, path: Path, timeout: float) -> dict:
    """One `python bot.py import FILE` in a fresh child: wall seconds and that child's own peak RSS."""
    env = dict(os.environ, DATABASE_URL=url)
    env.pop("SLACK_BOT_TOKEN", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "bot.py", "import", str(path)], cwd=code, env=env,
                                stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"s": None, "rss_mb": None, "timeout_s": timeout, "summary": f"killed after {timeout:.0f} s"}
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    code_ = os.waitstatus_to_exitcode(status)
    if code_ != 0:
        raise RuntimeError(f"import {path.name} exited {code_}:\n{stderr[-2000:]}")
    summary = stdout.strip().splitlines()[-1].split("imported (")[-1].rstrip(")")
    return {"s": round(wall, 2), "rss_mb": round(usage.ru_maxrss / 1024, 1), "summary": summary,
            "kept_lines": sum(1 for line in stdout.splitlines() if "kept the stored date" in line)}


def measure(backend: str, n: int, repeat: int, code: Path, workdir: Path, timeout: float, log) -> dict:
    t = time.perf_counter()
    full, changed = workdir / f"tokens-{n}.yml", workdir / f"changed-{n}.yml"
    write_file(full, n)
    write_file(changed, n, changed=True)
    log(f"{backend} {n:,}: wrote the files ({full.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    runs: dict[str, list[dict]] = {"fresh": [], "unchanged": [], "changed": []}
    final_counts = {}
    for r in range(repeat):
        url = fresh_database(backend, workdir)
        for step, path in (("fresh", full), ("unchanged", full), ("changed", changed)):
            res = run_import(code, url, path, timeout)
            runs[step].append(res)
            log(f"{backend} {n:,} run {r + 1}/{repeat}: {step} {res['s']} s, peak RSS {res['rss_mb']} MB "
                f"({res['summary']})")
            if res["s"] is None:
                break
        else:
            final_counts = counts(url)
            continue
        break

    def med(step: str, key: str):
        values = [x[key] for x in runs[step] if x.get(key) is not None]
        return round(median(values), 2) if values else None

    def peak(step: str):
        values = [x["rss_mb"] for x in runs[step] if x.get("rss_mb") is not None]
        return max(values) if values else None

    row = {"backend": backend, "tokens": n, "file_mb": round(full.stat().st_size / 1e6, 1), "counts": final_counts,
           "runs": runs}
    for step in runs:
        row[f"{step}_s"], row[f"{step}_rss_mb"] = med(step, "s"), peak(step)
        row[f"{step}_summary"] = runs[step][0]["summary"] if runs[step] else "not run"
    full.unlink()
    changed.unlink()
    return row


# --- driver ---------------------------------------------------------------------------------------

def _fmt(value, baseline=None) -> str:
    now = "—" if value is None else f"{value:g}"
    if baseline is None:
        return now
    before = "> timeout" if baseline == "timeout" else f"{baseline:g}"
    return f"{before} → {now}"


def _before(baseline: list[dict], backend: str, n: int, key: str):
    for row in baseline:
        if row["backend"] == backend and row["tokens"] == n:
            if row.get(key) is None:
                step = key.rsplit("_", 1)[0] if key.endswith("_s") else key.rsplit("_", 2)[0]
                return "timeout" if any(r.get("timeout_s") for r in row["runs"].get(step, [])) else None
            return row[key]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 tokens, one run, SQLite only")
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before one import is killed")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose bot.py is measured")
    parser.add_argument("--out", type=Path, help="write the raw rows here (a baseline), not bench/results")
    parser.add_argument("--baseline", type=Path, help="rows of an earlier --out run, shown as 'before'")
    args = parser.parse_args(argv)
    sizes, repeat, backends = sizes_and_backends(args, parser, quick_size=2000)
    started = time.perf_counter()
    log = elapsed_log()
    rows: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="renewbot-import-speed-"))

    def run(backend: str) -> None:
        for n in sizes:
            rows.append(measure(backend, n, repeat, args.code.resolve(), workdir, args.timeout, log))

    try:
        skipped = per_backend(backends, run, log, reset=lambda: pg_recreate(drop_only=True))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    run_s = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_text(json.dumps({"code": str(args.code), "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.out} in {run_s} s")
        return 0

    baseline = json.loads(args.baseline.read_text())["rows"] if args.baseline else []
    shown = " (before → after)" if baseline else ""
    table = [["backend", "tokens", "file MB", f"fresh import s{shown}", f"re-import unchanged s{shown}",
              f"re-import 1% changed s{shown}", f"peak RSS MB{shown}"]]
    for r in rows:
        b, n = r["backend"], r["tokens"]
        rss = max((v for v in (r["fresh_rss_mb"], r["unchanged_rss_mb"], r["changed_rss_mb"]) if v), default=None)
        before_rss = [_before(baseline, b, n, f"{s}_rss_mb") for s in ("fresh", "unchanged", "changed")]
        before_rss = max((v for v in before_rss if isinstance(v, float | int)), default=None)
        table.append([b, f"{n:,}", f"{r['file_mb']:g}",
                      *(_fmt(r[f"{s}_s"], _before(baseline, b, n, f"{s}_s") if baseline else None)
                        for s in ("fresh", "unchanged", "changed")),
                      _fmt(rss, before_rss if baseline else None)])

    budgets = []
    sqlite_rows = [r for r in rows if r["backend"] == "sqlite"]
    if sqlite_rows:
        target = next((r for r in sqlite_rows if r["tokens"] == 100_000), sqlite_rows[0])
        n = f"{target['tokens']:,}"
        for step, what in (("fresh", "fresh import"), ("unchanged", "re-import of the unchanged file")):
            s = target[f"{step}_s"]
            budgets.append(budget(f"sqlite: {what} of {n} tokens (whole process)", f"<= {TIME_BUDGET_S:.0f} s",
                                  s if s is not None else "timeout", s is not None and s <= TIME_BUDGET_S, " s"))
    biggest = max((r["tokens"] for r in rows), default=0)
    for r in rows:
        if r["tokens"] != biggest:
            continue
        rss = [v for v in (r["fresh_rss_mb"], r["unchanged_rss_mb"], r["changed_rss_mb"]) if v is not None]
        complete = all(r[f"{s}_s"] is not None for s in ("fresh", "unchanged", "changed"))
        budgets.append(budget(f"{r['backend']}: peak RSS of the import process at {biggest:,} tokens",
                              f"< {RSS_BUDGET_MB:.0f} MB", max(rss) if rss else "not measured",
                              bool(rss) and complete and max(rss) < RSS_BUDGET_MB, " MB"))

    notes = []
    for r in rows:
        notes.append(f"{r['backend']} {r['tokens']:,}: fresh → {r['fresh_summary']}; unchanged → "
                     f"{r['unchanged_summary']}; 1% changed → {r['changed_summary']}; rows at the end {r['counts']}.")
    for backend, why in skipped.items():
        notes.append(f"{backend}: SKIPPED ({why}).")
    if baseline:
        notes.append("'before' is the row-by-row importer this benchmark replaced (whole node tree, pure-Python "
                     "YAML loader, one SELECT and one flush per token), measured by the same benchmark "
                     "(`--code` an old checkout, `--out`), on the same machine.")
    notes.append(
        f"Wall time of `python bot.py import FILE` from spawn to exit (interpreter start-up, imports, the schema "
        f"check and the commit included; creating the schema is not), median of {repeat} run(s), each on a fresh "
        "database; peak RSS is the child's own ru_maxrss (os.wait4), the maximum over its runs. The file has "
        f"{ACCOUNTS} accounts, {len(TEAM_KINDS)} team kinds and N tokens in {CHANNELS} channels; the changed file "
        "differs in every 100th token (renamed, later expiry, other accounts, earlier expiry: kept and reported). "
        f"On PostgreSQL the server's own memory is not in these figures. Benchmark run time {run_s} s.")
    write_result(
        NAME,
        params={"quick": args.quick, "sizes": sizes, "repeat": repeat, "backends": backends, "accounts": ACCOUNTS,
                "budgets": {"time_s_100k_sqlite": TIME_BUDGET_S, "peak_rss_mb_1m": RSS_BUDGET_MB}, "run_s": run_s,
                "skipped": skipped},
        results={"rows": rows, "baseline": baseline}, budgets=budgets, table=table, notes="\n\n".join(notes),
    )
    print(f"run time {run_s} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
