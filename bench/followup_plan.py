"""Follow-up planning cost: `plan_followups` passes over many long-expired tokens on SQLite.

    python -m bench.followup_plan [--quick] [--tokens 50000] [--reminders 20] [--near 500]

Makes a fresh SQLite database with the real migrations, bulk-loads TOKENS tokens expired over the last two
years, each with its expired notice posted and REMINDERS reminders already sent (years of weekly ones), and
NEAR tokens expiring from two days ago to three days ahead, each with its latest notice posted and nobody
acknowledging (their escalations come due), then times three passes:
- first: the day's first scan after REMINDER_HOUR, the full pass over every expired token, which plans the
  day's reminders (and, this once, every escalation at expiry);
- steady: the next scan, 15 minutes later (what every scan costs for the rest of the day): only the tokens
  near their expiry are read;
- next day: the next day's full pass, with the day before planned (what the daily pass costs from then on).
It also records the largest number of bound parameters in any statement (an old plan put every expired token's
id in one IN list and failed past SQLite's limit of 32,766). --quick (for tests): 1,000 tokens, 2 reminders
each, 50 near.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import budget, elapsed_log, write_result

NAME = "followup_plan"
STEADY_BUDGET_S = 10.0
MAX_PARAMS = 32_766  # SQLite's default limit on bound parameters in one statement


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--reminders", type=int, default=20)
    parser.add_argument("--near", type=int, default=500)
    args = parser.parse_args()
    tokens, reminders, near = (1_000, 2, 50) if args.quick else (args.tokens, args.reminders, args.near)
    log = elapsed_log()

    from sqlalchemy import event, insert

    from jobs.followups import plan_followups
    from renewbot.runtime.config import AttentionSettings
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import Followup, Notice, Token

    now = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        log(f"loading {tokens} expired tokens, {reminders} sent reminders each")
        rows, notices, followups = [], [], []
        for i in range(tokens):
            expires = now - timedelta(days=2) - timedelta(minutes=i * 21)  # spread over ~2 years
            rows.append(dict(id=f"tok-{i:06d}", kind="generic", name=f"Token {i}", expires_at=expires,
                             notify_from=expires - timedelta(days=30), channel=f"C0CHAN{i % 20:02d}", owners=[],
                             version=1, retired=False, expiry_known=True))
            notices.append(dict(token_id=f"tok-{i:06d}", expires_at=expires, stage="expired", state="sent",
                                channel=f"C0CHAN{i % 20:02d}", ts=f"1700000000.{i:06d}", root_ts=f"1700000000.{i:06d}",
                                created_at=expires, sent_at=expires, attempts=1))
            for r in range(reminders):
                day = expires + timedelta(days=1 + 7 * r)
                followups.append(dict(token_id=f"tok-{i:06d}", expires_at=expires, kind="reminder",
                                      key=day.date().isoformat(), state="sent", channel=f"C0CHAN{i % 20:02d}",
                                      due_at=day, attempts=1, created_at=day))
        for i in range(near):  # from two days ago to three days ahead, each with its latest notice posted
            expires = now - timedelta(days=2) + timedelta(days=5) * (i + 0.5) / near
            stage = "expired" if expires <= now else "1d" if expires - now <= timedelta(days=1) else "3d"
            sent = expires if stage == "expired" else expires - timedelta(days=int(stage[:-1]))
            rows.append(dict(id=f"near-{i:06d}", kind="generic", name=f"Near {i}", expires_at=expires,
                             notify_from=expires - timedelta(days=30), channel=f"C0CHAN{i % 20:02d}", owners=[],
                             version=1, retired=False, expiry_known=True))
            notices.append(dict(token_id=f"near-{i:06d}", expires_at=expires, stage=stage, state="sent",
                                channel=f"C0CHAN{i % 20:02d}", ts=f"1700000001.{i:06d}",
                                root_ts=f"1700000001.{i:06d}", created_at=sent, sent_at=sent, attempts=1))
        with engine.begin() as conn:
            conn.execute(insert(Token), rows)
            conn.execute(insert(Notice), notices)
            for start in range(0, len(followups), 50_000):
                conn.execute(insert(Followup), followups[start:start + 50_000])
            conn.exec_driver_sql("ANALYZE")
        params: list[int] = []
        event.listen(engine, "before_cursor_execute",
                     lambda conn, cursor, statement, parameters, *rest: params.append(len(parameters or ())))
        settings = AttentionSettings()
        results = {}
        passes = (("first", now), ("steady", now + timedelta(minutes=15)), ("next day", now + timedelta(days=1)))
        for label, at in passes:
            started = time.perf_counter()
            report = plan_followups(engine=engine, now=at, settings=settings)
            results[label] = dict(seconds=round(time.perf_counter() - started, 3), planned=report.planned,
                                  daily=report.daily)
            log(f"{label} pass: {results[label]}")
        engine.dispose()
    most = max(params)
    table = [["expired tokens", "near tokens", "sent reminders", "pass", "planned", "seconds"]]
    table += [[str(tokens), str(near), str(tokens * reminders), label, str(r["planned"]), f"{r['seconds']:.2f}"]
              for label, r in results.items()]
    write_result(NAME, params=dict(tokens=tokens, reminders=reminders, near=near, quick=args.quick),
                 results=dict(passes=results, max_bound_parameters=most),
                 budgets=[budget("steady pass (every scan)", f"< {STEADY_BUDGET_S:g} s", results["steady"]["seconds"],
                                 results["steady"]["seconds"] < STEADY_BUDGET_S, " s"),
                          budget("bound parameters per statement", f"< {MAX_PARAMS}", most, most < MAX_PARAMS)],
                 table=table,
                 notes="The full pass (first, next day) runs once a local day after REMINDER_HOUR, marked done "
                       "with a Once key once complete; every other scan reads only the tokens expiring from "
                       "EXPIRY_LOOKBACK ago to ESCALATE_WITHIN_DAYS ahead (ix_token_expires_at). Tokens are read "
                       "in keyset pages of 5,000; planned keys are looked up only for the keys due now, so sent "
                       "reminders are never read back.")


if __name__ == "__main__":
    main()
