"""Several `serve` replicas on one PostgreSQL: each notice posted once, each renewal applied once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from renewbot.blocks import ids
from renewbot.runtime.deps import utc_now
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import Notice, Renewal
from tests.support.bot_server import SIGNING_SECRET
from tests.support.seed import seed, token
from tests.support.slack_requests import (
    form_payload_body,
    post_signed,
    slash_command_body,
    state_values,
    view_submission_payload,
)
from tests.test_bot_cli import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKENS = 12

pytestmark = pytest.mark.postgres


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "replica exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("replica never became healthy")


@pytest.fixture
def replicas(pg_db_url, slack, tmp_path):
    engine = make_engine(pg_db_url)
    upgrade(engine)
    now = utc_now()
    seed(engine, now=now, tokens=[token(f"t{i}", now + timedelta(days=1 + i % 6), owners=["U0OWNER"],
                                        channel=f"C0CH{i % 6}")
                                  for i in range(TOKENS)])
    key = Fernet.generate_key().decode()
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {
        "DATABASE_URL": pg_db_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url, "TOKEN_ENCRYPTION_KEYS": key}
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve"], env={**base, "PORT": str(p)},
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
    try:
        for port, proc in zip(ports, procs, strict=False):
            wait_healthy(port, proc)
        yield engine, ports
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()


def test_two_replicas_started_together_post_each_notice_once(replicas, slack):
    engine, _ = replicas
    slack.wait_for("chat.postMessage", count=TOKENS, timeout=20)
    time.sleep(1.5)  # both start-up scans have finished; nothing more may arrive
    # Notices only: a replica also posts the week's digest, late (its slot this week has passed), once.
    posts = [c for c in slack.calls_to("chat.postMessage")
             if (c.params.get("metadata") or {}).get("event_type") == ids.NOTICE_EVENT_TYPE]
    notice_ids = [c.params["metadata"]["event_payload"]["notice_id"] for c in posts]
    assert len(posts) == TOKENS and len(set(notice_ids)) == TOKENS
    digests = [c for c in slack.calls_to("chat.postMessage")
               if (c.params.get("metadata") or {}).get("event_type") == ids.DIGEST_EVENT_TYPE]
    assert len(digests) == len({c.params["channel"] for c in digests})  # at most one per channel
    with session_scope(engine) as s:
        assert {n.state for n in s.exec(select(Notice)).all()} == {"sent"}


def test_one_renewal_submitted_to_both_replicas_is_applied_once(replicas, slack):
    engine, ports = replicas
    slack.wait_for("chat.postMessage", count=TOKENS, timeout=20)
    body = slash_command_body(text="t0", user_id="U0OWNER", response_url=slack.response_url())
    assert post_signed(f"http://127.0.0.1:{ports[0]}/slack/events", body, SIGNING_SECRET)[0] == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    values = state_values(view, {ids.SECRET_BLOCK: {"value": f"amzn.mws.{uuid.uuid4()}"}})
    payload = form_payload_body(view_submission_payload(view=view, values=values, user_id="U0OWNER"))
    answers = [None, None]
    barrier = threading.Barrier(2)

    def submit(i: int) -> None:
        barrier.wait()
        answers[i] = post_signed(f"http://127.0.0.1:{ports[i]}/slack/events", payload, SIGNING_SECRET)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert [a[0] for a in answers] == [200, 200]
    bodies = sorted((a[2] or b"").decode() for a in answers)
    assert bodies[0] == "" and json.loads(bodies[1])["response_action"] == "errors"
    confirmations = [c for c in slack.wait_for("chat.postMessage", count=TOKENS + 1)
                     if "renewed by" in c.params.get("text", "")]
    time.sleep(1)
    assert len(confirmations) == 1
    assert len([c for c in slack.calls_to("chat.postMessage") if "renewed by" in c.params.get("text", "")]) == 1
    with session_scope(engine) as s:
        assert len(s.exec(select(Renewal)).all()) == 1
