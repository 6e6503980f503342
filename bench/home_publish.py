"""Home tab publish time at 1,000 tokens: the database read, the build and views.publish over HTTP.

    python -m bench.home_publish [--quick] [--tokens N] [--runs R]

A SQLite database (real migrations) holds N tokens in one of two shapes:
  - mixed:  a third expired, due and fine; 0-3 accounts each; short names; half the tokens name the person,
            the other half are for the members of a channel the person is in;
  - skewed: every token due or expired (so the view is full of urgent rows), 20 accounts each, 300-character
            names, an open notice with its permalink each, and a user group among the owners.
The Slack stand-in (tests/support/slack_standin.py, real HTTP) and the bot's real HTTP stack (waitress + bolt,
tests/support/bot_server.py) run in this process. Two measures, R runs each per shape:
  - publish: handlers.home.publish_home() called directly with a fresh Access each run (cold: users.info,
    users.conversations and usergroups.users.list are asked again): read + visibility + build + views.publish;
  - event:   a signed app_home_opened POSTed to /slack/events until the stand-in receives views.publish (bolt's
    ack, its listener thread, the HomeView upsert, then the same work with the app's warm Access cache).
Both clocks are time.monotonic(). Budget: publish p99 <= 1 s at 1,000 tokens.
--quick (for tests): 100 tokens, 5 runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import budget, median, percentile, write_result

NAME = "home_publish"
USER = "U0BENCH"
CHANNEL = "C0BENCH"
BUDGET_P99_S = 1.0


def load(engine, n: int, shape: str, now: datetime) -> None:
    from storage.db import session_scope
    from storage.models import Account, Notice, NoticeState, Token, TokenAccount

    skewed = shape == "skewed"
    with session_scope(engine) as s:
        s.add_all(Account(id=f"acct-{a:03d}", name=f"Marketplace account {a:03d}", enabled=a % 3 != 0,
                          settings_url=f"https://commerce.example/accounts/acct-{a:03d}",
                          state_reason="switched off by the renewal" if a % 3 == 0 else None)
                  for a in range(200))
        for i in range(n):
            if skewed:
                expires = now + timedelta(days=(i % 40) - 10, hours=i % 7)  # -10 .. 29 days: due or expired
            else:
                expires = now + timedelta(days=(i % 3) * 200 - 100 + (i % 50) - (10 if i % 3 == 1 else 0))
            owners = [USER, "S0BENCH"] if skewed else ([USER] if i % 2 else [])
            name = (f"Token {i} " + "long name " * 30)[:300] if skewed else f"Token {i}"
            s.add(Token(id=f"tok-{i:05d}", kind=("amazon-sp-api", "generic", "amazon-lwa-client-secret")[i % 3],
                        name=name, expires_at=expires, notify_from=expires - timedelta(days=30), channel=CHANNEL,
                        owners=owners))
        s.flush()
        s.add_all(TokenAccount(token_id=f"tok-{i:05d}", account_id=f"acct-{(i + k) % 200:03d}", position=k)
                  for i in range(n) for k in range(20 if skewed else i % 4))
        if skewed:
            s.add_all(Notice(token_id=f"tok-{i:05d}", expires_at=now + timedelta(days=(i % 40) - 10, hours=i % 7),
                             stage="7d", state=NoticeState.SENT, channel=CHANNEL, ts=f"1700000000.{i:06d}",
                             root_ts=f"1700000000.{i:06d}", created_at=now,
                             permalink=f"https://bench.slack.com/archives/{CHANNEL}/p1700000000{i:06d}")
                      for i in range(n))


def measure(n: int, runs: int, shape: str, log) -> dict:
    from cryptography.fernet import Fernet

    from handlers.access import Access
    from handlers.home import publish_home
    from renewbot.crypto import SecretBox
    from renewbot.runtime.deps import Deps
    from renewbot.runtime.slack_client import make_client
    from storage.db import make_engine
    from storage.migrate import upgrade
    from tests.support.bot_server import SIGNING_SECRET, BotServer, standin_settings
    from tests.support.slack_requests import app_home_opened_body, sign
    from tests.support.slack_standin import SlackStandin

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, SlackStandin() as slack:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        load(engine, n, shape, now)
        slack.channel_members[CHANNEL] = [USER]
        slack.usergroups["S0BENCH"] = [USER]
        deps = Deps(engine=engine, box=SecretBox((Fernet.generate_key().decode(),)))
        client = make_client("xoxb-bench", slack.url)
        publish_home(client, deps=deps, access=Access(client), user_id=USER)  # warm-up: imports, statements
        direct = []
        for _ in range(runs):
            started = time.monotonic()
            ok = publish_home(client, deps=deps, access=Access(client), user_id=USER)
            direct.append(time.monotonic() - started)
            assert ok, "views.publish failed"
        blocks = len(slack.home_views[USER]["blocks"])
        event = []
        with BotServer(standin_settings(slack.url), deps, slack) as bot:
            for _ in range(runs + 1):
                before = len(slack.calls_to("views.publish"))
                body = app_home_opened_body(USER)
                headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
                started = time.monotonic()
                request = urllib.request.Request(bot.events, data=body.encode(), method="POST", headers=headers)
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                call = slack.wait_for("views.publish", count=before + 1, timeout=10)[before]
                event.append(call.at - started)
        event = event[1:]  # the first warmed the app's Access cache and bolt's listener thread
        engine.dispose()
    log(f"{shape}: {n} tokens, {blocks} blocks, publish p99 {percentile(direct, 99) * 1000:.0f} ms")
    return {"shape": shape, "tokens": n, "runs": runs, "blocks": blocks, "publish": direct, "event": event}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.home_publish")
    parser.add_argument("--quick", action="store_true", help="100 tokens, 5 runs (for the test suite)")
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args(argv)
    n, runs = (100, 5) if args.quick else (args.tokens, max(1, args.runs))

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = [measure(n, runs, shape, log) for shape in ("mixed", "skewed")]
    ms = lambda v: f"{v * 1000:.0f}"
    table = [["shape", "tokens", "blocks", "runs", "publish p50 ms", "publish p99 ms", "event→publish p50 ms",
              "event→publish p99 ms"]]
    table += [[r["shape"], f"{r['tokens']:,}", str(r["blocks"]), str(r["runs"]), ms(median(r["publish"])),
               ms(percentile(r["publish"], 99)), ms(median(r["event"])), ms(percentile(r["event"], 99))]
              for r in results]
    budgets = [budget(f"{r['shape']}: publish p99 at {r['tokens']:,} tokens", f"<= {BUDGET_P99_S * 1000:.0f}",
                      float(ms(percentile(r["publish"], 99))), percentile(r["publish"], 99) <= BUDGET_P99_S, " ms")
               for r in results]
    notes = ("publish: handlers.home.publish_home() with a fresh Access each run (so users.info, users.conversations "
             "and usergroups.users.list are asked every time): one read of every token, the Slack lookups, "
             "accounts and notice links for the shown rows only, the build, and views.publish to the stand-in over "
             "HTTP, up to its answer. event→publish: a signed app_home_opened POST until the stand-in receives "
             "views.publish, through waitress and bolt, with the app's warm Access cache. The stand-in, the bot "
             "and the client share one process (one GIL). mixed: a third each expired/due/fine, 0-3 accounts, "
             "half the tokens via channel membership; skewed: all due or expired, 20 accounts each, 300-character "
             "names, a permalink each, a user group among the owners. SQLite file database.")
    write_result(NAME, params={"tokens": n, "runs": runs}, results=results, budgets=budgets, table=table,
                 notes=notes)
    return 0 if all(b["ok"] for b in budgets) or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
