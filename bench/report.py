"""Writes BENCHMARKS.md from bench/results/*.json: `python -m bench.report`."""

from __future__ import annotations

import json

from bench.common import RESULTS, ROOT, render_table

ORDER = ["ack_latency", "scan_cost", "import_speed", "delivery_pacing", "footprint", "http_abuse", "connector_latency"]
HOW = {
    "ack_latency": "python -m bench.ack_latency",
    "scan_cost": "python -m bench.scan_cost",
    "delivery_pacing": "python -m bench.delivery_pacing",
    "import_speed": "python -m bench.import_speed",
    "http_abuse": "python -m bench.http_abuse",
    "footprint": "python -m bench.footprint",
    "connector_latency": "python -m bench.connector_latency",
}


def main() -> None:
    parts = ["# Benchmarks", "",
             "Each benchmark runs with one command from the repository root (after `python3 tasks.py test` "
             "has made `.venv`: use `.venv/bin/python`), writes `bench/results/<name>.json` and a table here "
             "(`python -m bench.report` rebuilds this file). Timings on a shared 2-core machine are noisy: "
             "figures are medians over repeated runs, and latency is quoted as a ratio against a baseline "
             "measured in the same run.", ""]
    names = sorted((p.stem for p in RESULTS.glob("*.json")), key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    for name in names:
        data = json.loads((RESULTS / f"{name}.json").read_text())
        if "machine" not in data:
            continue  # not a timing benchmark (mutation.json is reported in docs/mutation.md)
        m = data["machine"]
        parts += [f"## {name.replace('_', ' ')}", "",
                  f"`{HOW.get(name, 'python -m bench.' + name)}` — run {data['when']} on {m['cores']} cores, "
                  f"{m['memory_gib']} GiB, {m['cpu']}, Python {m['python']}.", "",
                  render_table(data["table"]), ""]
        if data["budgets"]:
            parts += ["| budget | limit | measured | |", "|---|---|---|---|"]
            parts += [f"| {b['name']} | {b['budget']} | {b['measured']}{b['unit']} | {'pass' if b['ok'] else 'MISS'} |"
                      for b in data["budgets"]]
            parts.append("")
        if data.get("notes"):
            parts += [data["notes"], ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"wrote BENCHMARKS.md from {len(names)} result file(s)")


if __name__ == "__main__":
    main()
