"""Follow-up planning cost: one `plan_followups` pass over many long-expired tokens on SQLite.

    python -m bench.followup_plan [--quick] [--tokens 50000] [--reminders 20]

Makes a fresh SQLite database with the real migrations, bulk-loads TOKENS tokens expired over the last two
years, each with its expired notice posted and REMINDERS reminders already sent (years of weekly ones), then
times two passes at the same hour: the first plans that day's reminder for every token (one insert each), the
second finds everything planned (what every scan after it costs). It also records the largest number of bound
parameters in any statement (the old plan put every expired token's id in one IN list and failed past
SQLite's limit of 32,766). --quick (for tests): 1,000 tokens, 2 reminders each.
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
    args = parser.parse_args()
    tokens, reminders = (1_000, 2) if args.quick else (args.tokens, args.reminders)
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
        for label in ("first", "steady"):
            started = time.perf_counter()
            report = plan_followups(engine=engine, now=now, settings=settings)
            results[label] = dict(seconds=round(time.perf_counter() - started, 3), planned=report.planned)
            log(f"{label} pass: {results[label]}")
        engine.dispose()
    most = max(params)
    table = [["tokens", "sent reminders", "pass", "planned", "seconds"]]
    table += [[str(tokens), str(tokens * reminders), label, str(r["planned"]), f"{r['seconds']:.2f}"]
              for label, r in results.items()]
    write_result(NAME, params=dict(tokens=tokens, reminders=reminders, quick=args.quick),
                 results=dict(passes=results, max_bound_parameters=most),
                 budgets=[budget("steady pass (every scan)", f"< {STEADY_BUDGET_S:g} s", results["steady"]["seconds"],
                                 results["steady"]["seconds"] < STEADY_BUDGET_S, " s"),
                          budget("bound parameters per statement", f"< {MAX_PARAMS}", most, most < MAX_PARAMS)],
                 table=table,
                 notes="Tokens are read in keyset pages of 5,000 (ix_token_expires_at); each page's planned keys "
                       "are read only for keys that can be due now, so sent reminders are never read back.")


if __name__ == "__main__":
    main()
