"""Delivery pacing: due notices over several channels against a stand-in enforcing 1 msg/s per channel.

`python -m bench.delivery_pacing [--quick] [--repeat N]`
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import budget, median, write_result
from jobs.deliver import deliver_due
from jobs.pacing import ChannelPacer
from jobs.plan import plan_notices
from renewbot.runtime.deps import utc_now
from renewbot.runtime.slack_client import make_client
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support.seed import seed, token
from tests.support.slack_standin import SlackStandin

BURST = 3


def one_run(notices: int, channels: int, throttled_channel: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp, SlackStandin() as slack:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        now = utc_now()
        tokens = [token(f"t{i}", now + timedelta(days=2), channel=f"C0CH{i % channels}") for i in range(notices)]
        if throttled_channel:
            tokens.append(token("slow", now + timedelta(days=2), channel="C0SLOW"))
        seed(engine, now=now, tokens=tokens)
        plan_notices(engine=engine, now=now)
        slack.set_channel_rate_limit(per_second=1, burst=BURST)
        if throttled_channel:
            # Every post to C0SLOW is refused for a long while: the other channels must not wait for it.
            slack.throttled_channels["C0SLOW"] = 60
        client = make_client("xoxb-bench", slack.url)
        started = time.monotonic()
        report = deliver_due(engine=engine, client=client, now=now, pacer=ChannelPacer())
        elapsed = time.monotonic() - started
        posted = sum(len(v) for k, v in slack.messages.items() if k != "C0SLOW")
        last_post = max((c.at for c in slack.calls_to("chat.postMessage") if not c.failed), default=started)
        engine.dispose()
        return {"elapsed_s": elapsed, "others_done_s": last_post - started, "posted": posted,
                "sent": len(report.sent), "retrying": len(report.retrying),
                "failed": len(report.failed), "rate_limited_429": slack.rate_limited,
                "injected_429": 1 if throttled_channel else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 notices, one run (for the test suite)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    notices, channels, repeat = (10, 5, 1) if args.quick else (500, 5, args.repeat)
    per_channel = notices // channels
    # Seconds: the burst goes at once, then one per second (at least 1 s, so tiny runs still compare).
    bound = max(1.0, (per_channel - BURST) * 1.0)
    runs = [one_run(notices, channels, throttled_channel=False) for _ in range(repeat)]
    slow = one_run(notices, channels, throttled_channel=True)
    t = median([r["elapsed_s"] for r in runs])
    lost = [notices - r["posted"] for r in runs] + [notices - slow["posted"]]
    ratio = t / bound if bound else float("nan")
    table = [["scenario", "notices", "channels", "runs", "median s", "bound s", "ratio", "429s", "posted"],
             ["paced", notices, channels, repeat, f"{t:.1f}", f"{bound:.0f}", f"{ratio:.3f}",
              max(r["rate_limited_429"] for r in runs), min(r["posted"] for r in runs)],
             ["one more channel answering 429 (Retry-After 60)", notices, channels, 1, f"{slow['elapsed_s']:.1f}",
              f"{bound:.0f}", f"{slow['elapsed_s'] / bound:.3f}" if bound else "n/a", slow["rate_limited_429"],
              slow["posted"]]]
    budgets = [
        budget("429s from the channel limit", "0", max(r["rate_limited_429"] for r in [*runs, slow]),
               max(r["rate_limited_429"] for r in [*runs, slow]) == 0),
        budget("total time vs rate-limit bound", "<= 1.10x", f"{ratio:.3f}", bool(bound) and ratio <= 1.10, "x"),
        budget("notices lost", "0", max(lost), max(lost) == 0),
        budget("others keep flowing while one channel is rate-limited", "<= 1.10x bound",
               f"{slow['elapsed_s'] / bound:.3f}" if bound else "n/a",
               bool(bound) and slow["elapsed_s"] / bound <= 1.10 and slow["retrying"] == 1, "x"),
    ]
    write_result("delivery_pacing", params={"notices": notices, "channels": channels, "burst": BURST,
                                            "limit_per_channel_per_s": 1, "repeat": repeat},
                 results={"paced": runs, "one_channel_throttled": slow}, budgets=budgets, table=table,
                 notes=(f"Stand-in: token bucket per channel, 1 msg/s, burst {BURST}. Bound = (notices per channel "
                        f"- burst) x 1 s. renewbot paces each channel at one post per "
                        f"{ChannelPacer().interval:.2f} s (5% over the limit, for network jitter), channels in "
                        "parallel. In the throttled run one extra channel answers 429 with Retry-After 60: its "
                        "notice goes back to pending (not lost) while the five others drain at full pace."))


if __name__ == "__main__":
    main()
