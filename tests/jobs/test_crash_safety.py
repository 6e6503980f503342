"""A process killed between Slack's reply and the commit does not post twice when work resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from jobs.scan import scan
from renewbot.runtime.deps import utc_now
from renewbot.runtime.slack_client import make_client
from storage.db import session_scope
from storage.models import Notice
from tests.support.seed import seed, token

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_during_the_post_then_resume_posts_exactly_once(engine, db_url, slack, tmp_path):
    now = utc_now()
    seed(engine, tokens=[token("t1", now + timedelta(days=2))], now=now)
    slack.hold_reply_next("chat.postMessage", 10)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {
        "DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "scan"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        slack.wait_for("chat.postMessage", timeout=20)  # Slack has the message; the bot has no reply yet
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    assert notice.state == "sending" and notice.ts is None  # the outcome is uncertain

    # Work resumes once the dead process's lease has run out (here: another process's scan).
    later = utc_now() + timedelta(minutes=3)
    report = scan(engine=engine, client=make_client("xoxb-test", slack.url), now=later)
    assert report.delivery.sent == [notice.id]
    assert len(slack.messages["C0ALERTS"]) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1
    history = slack.calls_to("conversations.history")
    assert history and history[0].params["include_all_metadata"] in (True, "true", "1", 1)
    with session_scope(engine) as s:
        (notice,) = s.exec(select(Notice)).all()
    assert notice.state == "sent" and notice.ts == slack.messages["C0ALERTS"][0]["ts"]


def test_a_retry_whose_first_attempt_never_arrived_posts(engine, slack):
    now = utc_now()
    seed(engine, tokens=[token("t1", now + timedelta(days=2))], now=now)
    slack.drop_connection_next("chat.postMessage", times=3)
    client = make_client("xoxb-test", slack.url)
    scan(engine=engine, client=client, now=now)
    assert slack.messages.get("C0ALERTS", []) == []
    scan(engine=engine, client=client, now=now + timedelta(minutes=20))
    assert len(slack.messages["C0ALERTS"]) == 1
    assert slack.calls_to("conversations.history")  # it looked before posting again
