"""Each benchmark runs on a tiny size (figures are not checked here: that is the benchmarks' job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["ack_latency", "scan_cost", "delivery_pacing", "footprint", "import_speed",
                                  "http_abuse", "connector_latency", "home_publish", "options_latency",
                                  "calendar_feed", "followup_plan"])
def test_benchmark_runs_quick(name, tmp_path):
    if not (ROOT / "bench" / f"{name}.py").exists():
        pytest.fail(f"bench/{name}.py is missing")
    env = {**os.environ, "RENEWBOT_BENCH_RESULTS": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", f"bench.{name}", "--quick"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["benchmark"] == name and data["budgets"] and len(data["table"]) >= 2
    assert data["machine"]["cores"] >= 1
