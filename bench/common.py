"""Shared by the benchmarks: machine description, percentiles, result files.

Each benchmark is `python -m bench.<name> [--quick]` from the repository root,
writes bench/results/<name>.json, and prints a short table. `python -m
bench.report` turns every result file into BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Tests point this elsewhere so a tiny run never overwrites the real figures.
RESULTS = Path(os.environ.get("RENEWBOT_BENCH_RESULTS") or ROOT / "bench" / "results")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform()}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def budget(name: str, limit: str, measured: float | str, ok: bool, unit: str = "") -> dict:
    return {"name": name, "budget": limit, "measured": measured, "unit": unit, "ok": bool(ok)}


def write_result(name: str, *, params: dict, results: list[dict] | dict, budgets: list[dict],
                 table: list[list[str]], notes: str = "") -> Path:
    """results: raw figures; table: header row + rows for BENCHMARKS.md; budgets: pass/fail lines."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "params": params, "results": results, "budgets": budgets,
            "table": table, "notes": notes}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(render_table(table))
    for b in budgets:
        print(f"{'PASS' if b['ok'] else 'MISS'}  {b['name']}: {b['measured']}{b['unit']} (budget {b['budget']})")
    return path


def render_table(table: list[list[str]]) -> str:
    if not table:
        return ""
    head, *rows = table
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def sizes_and_backends(args, parser, *, quick_size: int) -> tuple[list[int], int, list[str]]:
    """The --sizes, --repeat and --backends a size-sweeping benchmark was given (tiny with --quick)."""
    if args.quick:
        return [quick_size], 1, ["sqlite"]
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {b!r}")
    return sizes, max(1, args.repeat), backends


def elapsed_log(width: int = 7):
    """A log function that prefixes the seconds since it was made."""
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:{width}.1f}s] {msg}", file=sys.stderr, flush=True)
    return log


def per_backend(backends: list[str], run, log, *, reset) -> dict[str, str]:
    """run(backend) for each; PostgreSQL gets a fresh database before and after (`reset`), and a machine
    without a server skips it with the reason instead of failing the whole run. Returns what was skipped."""
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend == "postgresql":
            try:
                reset()
            except Exception as exc:
                skipped[backend] = str(exc).splitlines()[0]
                log(f"postgresql skipped: {skipped[backend]}")
                continue
        try:
            run(backend)
        finally:
            if backend == "postgresql":
                reset()
    return skipped
