"""Renewals reach the platform, over real HTTP: notice -> Renew -> submit -> signed webhook -> the thread's answer.

The platform is tests/support/platform.py (it checks signatures with its own HMAC); Slack is the stand-in.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from jobs.connect import LEASE, deliver_connectors
from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.connectors.signing import verify
from renewbot.runtime import commands as cli
from renewbot.runtime.deps import utc_now
from renewbot.runtime.slack_client import make_client
from storage.db import make_engine, session_scope
from storage.models import Delivery, PlatformConfirmation
from tests.conftest import NOW
from tests.jobs.test_connect import UK_SETTINGS, delivery_rows, inventory, place_confirmation, renew_now
from tests.support.bot_server import settle
from tests.support.platform import PlatformStandIn
from tests.support.slack_requests import state_values
from tests.test_secrets import captured_logs, raw_database  # noqa: F401 - a fixture, used by name

ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "whsec-test-0123456789"
ENV = {"COMMERCE_EU_WEBHOOK_SECRET": SIGNING_SECRET}


def webhook(url: str) -> dict:
    return {"id": "commerce-eu", "type": "webhook", "url": url, "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"}


@pytest.fixture
def platform():
    with PlatformStandIn(secret=SIGNING_SECRET) as standin:
        yield standin


def job(engine, slack, deps, now=None, environ=ENV):
    return deliver_connectors(engine=engine, client=make_client("xoxb-test", slack.url), box=deps.box,
                              now=now or deps.clock(), environ=environ)


def renew_in_slack(engine, slack, bot, secret: str) -> dict:
    """scan -> notice -> Renew -> submit, as in tests/test_loop_end_to_end.py; returns the notice."""
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    notice = slack.messages["C0ALERTS"][0]
    assert bot.click(ids.RENEW_BUTTON, "amazon-eu-mws", message=notice) == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": secret}}))
    assert status == 200 and answer is None
    return notice


def signed(received) -> bool:
    return verify(SIGNING_SECRET, received.raw, received.headers.get("Renewbot-Signature"), now=time.time())


def test_notice_renew_submit_one_signed_delivery_then_the_thread_shows_the_platforms_answer(
        engine, slack, bot, deps, platform):
    inventory(engine, connector=webhook(platform.url))
    platform.answer(accounts={"amazon-de": "seller account suspended"})
    secret = f"amzn.mws.{uuid.uuid4()}"
    notice = renew_in_slack(engine, slack, bot, secret)
    confirmation = slack.wait_for("chat.postMessage", count=2)[1].params
    assert confirmation["thread_ts"] == notice["ts"]
    assert "On its way to commerce-eu" in confirmation["text"]
    assert "On its way to *commerce-eu*" in str(confirmation["blocks"])
    assert deps.wake_connectors.is_set()  # serve's connector job would run now

    report = job(engine, slack, deps)
    (received,) = platform.wait_for(1)
    assert len(report.delivered) == 1
    assert signed(received) and received.event == "token.renewed"
    assert received.headers["Content-Type"] == "application/json"
    assert received.body["token"]["secret"] == secret and received.delivery_id == received.body["delivery_id"]
    assert [a["id"] for a in received.body["accounts"]] == ["amazon-uk", "amazon-de"]

    answer = slack.wait_for("chat.postMessage", count=3)[2].params
    assert answer["channel"] == "C0ALERTS" and answer["thread_ts"] == notice["ts"]
    assert "Amazon UK re-enabled by commerce-eu; Amazon DE: seller account suspended" in answer["text"]
    assert "Amazon EU MWS token" in answer["text"] and "2027-11-26" in answer["text"]
    # Nothing more: not sent again, not answered again.
    job(engine, slack, deps, now=NOW + timedelta(hours=1))
    settle()
    assert len(platform.deliveries) == 1 and len(slack.calls_to("chat.postMessage")) == 3
    (row,) = delivery_rows(engine)
    assert row.state == "delivered" and row.reply_thread_ts == notice["ts"]
    (posted,) = [m for m in slack.messages["C0ALERTS"] if "On its way" in m["text"]]
    assert row.confirmation_ts == posted["ts"] != notice["ts"]


def test_outage_then_recovery_delivers_once_with_the_same_delivery_id(engine, slack, deps, platform):
    inventory(engine, connector=webhook(platform.url))
    outcome = renew_now(engine, deps.box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    platform.answer(status=503, times=2)
    moment = NOW
    for _ in range(3):
        job(engine, slack, deps, now=moment)
        (row,) = delivery_rows(engine)
        if row.state == "delivered":
            break
        moment = row.next_attempt_at + timedelta(seconds=1)
    assert row.state == "delivered" and row.attempts == 3
    assert [r.delivery_id for r in platform.deliveries] == [outcome.delivery_id] * 3
    assert all(signed(r) for r in platform.deliveries)
    (answer,) = slack.calls_to("chat.postMessage")
    assert "re-enabled by commerce-eu" in answer.params["text"]


def test_429_retry_after_is_honoured_on_a_frozen_clock(engine, slack, deps, platform):
    inventory(engine, connector=webhook(platform.url))
    renew_now(engine, deps.box, f"amzn.mws.{uuid.uuid4()}")
    platform.answer(status=429, retry_after="120", times=1)
    job(engine, slack, deps, now=NOW)
    (row,) = delivery_rows(engine)
    assert row.state == "pending" and row.last_error == "HTTP 429"
    assert NOW + timedelta(seconds=120) <= row.next_attempt_at < NOW + timedelta(seconds=125)
    job(engine, slack, deps, now=NOW + timedelta(seconds=119))
    assert len(platform.deliveries) == 1
    job(engine, slack, deps, now=NOW + timedelta(seconds=126))
    assert len(platform.deliveries) == 2 and delivery_rows(engine)[0].state == "delivered"


def test_a_400_fails_at_once_and_the_thread_says_what_to_do_by_hand(engine, slack, bot, deps, platform, capsys):
    inventory(engine, connector=webhook(platform.url))
    platform.answer(status=400, reply=b'{"error": "unknown app id 532089569783"}')
    renew_in_slack(engine, slack, bot, f"amzn.mws.{uuid.uuid4()}")
    slack.wait_for("chat.postMessage", count=2)
    job(engine, slack, deps)
    answer = slack.wait_for("chat.postMessage", count=3)[2].params
    blocks = json.dumps(answer["blocks"])
    assert "<@U0OWNER>" in answer["text"] and "did not reach commerce-eu" in answer["text"]
    assert "refused it" in blocks and "HTTP 400: unknown app id 532089569783" in blocks
    assert "Do it by hand" in blocks and UK_SETTINGS in blocks and "Amazon DE" in blocks
    (row,) = delivery_rows(engine)
    assert row.state == "failed" and row.attempts == 1 and len(platform.deliveries) == 1
    cli.cmd_status(deps=deps, as_json=True)
    (tok,) = json.loads(capsys.readouterr().out)["tokens"]
    assert tok["deliveries"] == [{"delivery_id": row.delivery_id, "connector": "commerce-eu", "state": "failed",
                                  "attempts": 1, "error": "HTTP 400: unknown app id 532089569783",
                                  "next_attempt_at": None}]
    cli.cmd_status(deps=deps, as_json=False)
    assert "delivery to commerce-eu failed (HTTP 400: unknown app id" in capsys.readouterr().out


def test_24_hours_of_503_fail_the_same_way(engine, slack, deps, platform):
    inventory(engine, connector=webhook(platform.url))
    outcome = renew_now(engine, deps.box, f"amzn.mws.{uuid.uuid4()}")
    place_confirmation(engine, outcome.renewal_id)
    platform.answer(status=503)
    moment = NOW
    while True:
        job(engine, slack, deps, now=moment)
        (row,) = delivery_rows(engine)
        if row.state != "pending":
            break
        moment = row.next_attempt_at + timedelta(seconds=1)
    assert row.state == "failed" and row.last_error == "retried for 24 hours; last: HTTP 503"
    assert {r.delivery_id for r in platform.deliveries} == {outcome.delivery_id}
    (answer,) = slack.calls_to("chat.postMessage")
    blocks = json.dumps(answer.params["blocks"])
    assert "<@U0OWNER>" in answer.params["text"] and "could not be reached for 24 hours" in blocks
    assert UK_SETTINGS in blocks


def test_a_newer_renewal_supersedes_the_pending_one_which_never_reaches_the_platform(engine, slack, deps, platform):
    inventory(engine, connector=webhook(platform.url))
    first = renew_now(engine, deps.box, f"amzn.mws.{uuid.uuid4()}")
    newer = f"amzn.mws.{uuid.uuid4()}"
    second = renew_now(engine, deps.box, newer, now=NOW + timedelta(minutes=5))
    job(engine, slack, deps, now=NOW + timedelta(minutes=6))
    (received,) = platform.wait_for(1)
    assert received.delivery_id == second.delivery_id and received.body["token"]["secret"] == newer
    assert first.delivery_id not in json.dumps([r.body for r in platform.deliveries])


def test_two_replicas_deliver_each_renewal_once(engine, db_url, slack, deps, platform):
    expires = (NOW + timedelta(days=5)).isoformat()
    extra = [{"id": f"t{i}", "kind": "generic", "name": f"Token {i}", "expires_at": expires, "channel": "C0ALERTS",
              "connector": "commerce-eu", "accounts": ["amazon-uk"]} for i in range(10)]
    inventory(engine, connector=webhook(platform.url), extra_tokens=extra)
    for i in range(10):
        renew_now(engine, deps.box, f"secret-{i}-{uuid.uuid4()}", token_id=f"t{i}")
    platform.answer(delay=0.05)  # long enough for the replicas to overlap
    engines = [make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)

    def replica(i: int) -> None:
        barrier.wait()
        deliver_connectors(engine=engines[i], client=make_client("xoxb-test", slack.url), box=deps.box, now=NOW,
                           environ=ENV)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    ids_ = [r.delivery_id for r in platform.deliveries]
    assert len(ids_) == 10 and len(set(ids_)) == 10
    assert {r.state for r in delivery_rows(engine)} == {"delivered"}


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from cryptography.fernet import Fernet
    from renewbot.crypto import SecretBox
    from storage.db import make_engine
    from tests.jobs.test_connect import renew_now
    from renewbot.runtime.deps import utc_now
    engine = make_engine(sys.argv[1])
    renew_now(engine, SecretBox((sys.argv[2],)), sys.argv[3], now=utc_now())
    print("committed", flush=True)
    time.sleep(60)  # killed here: after the commit, before any delivery
""")


def _env(db_url: str, slack, key: str) -> dict:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {
        "DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url,
        "TOKEN_ENCRYPTION_KEYS": key, "PYTHONPATH": str(ROOT), **ENV}


def test_sigkill_between_commit_and_delivery_then_while_holding_the_lease_delivers_once(
        engine, db_url, slack, platform, tmp_path, fernet_key, deps):
    inventory(engine, connector=webhook(platform.url), now=utc_now())
    secret = f"amzn.mws.{uuid.uuid4()}"
    env = _env(db_url, slack, fernet_key)
    # 1. Killed right after the renewal's commit: the delivery is planned, nothing was sent.
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, db_url, fernet_key, secret], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "committed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (row,) = delivery_rows(engine)
    assert row.state == "pending" and platform.deliveries == []
    # 2. `renewbot scan` claims it and sends; the platform takes its time; the scan is killed holding the lease.
    platform.answer(delay=30, times=1)
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "scan"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        platform.wait_for(1, timeout=30)  # the platform has it; renewbot has no answer yet
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (row,) = delivery_rows(engine)
    assert row.state == "sending" and row.attempts == 1
    # 3. Another process, before the lease ran out: leaves it alone. After: sends it again, same id, once.
    assert job(engine, slack, deps, now=utc_now()).delivered == []
    assert len(platform.deliveries) == 1
    report = job(engine, slack, deps, now=utc_now() + LEASE + timedelta(seconds=5))
    assert len(report.delivered) == 1
    assert [r.delivery_id for r in platform.deliveries] == [row.delivery_id] * 2
    assert all(r.body["token"]["secret"] == secret for r in platform.deliveries)
    job(engine, slack, deps, now=utc_now() + timedelta(hours=2))
    assert len(platform.deliveries) == 2
    (row,) = delivery_rows(engine)
    assert row.state == "delivered" and row.attempts == 2


def test_a_command_connector_end_to_end(engine, slack, deps, tmp_path):
    got = tmp_path / "got.json"
    script = tmp_path / "apply-renewal.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        body = json.load(sys.stdin)
        with open({str(got)!r}, "w") as f:
            json.dump({{"body": body, "argv": sys.argv[1:], "env": sorted(os.environ)}}, f)
        print(json.dumps({{"accounts": [{{"id": "amazon-uk", "ok": True}},
                                        {{"id": "amazon-de", "ok": False, "error": "seller account suspended"}}]}}))
    """))
    inventory(engine, connector={"id": "apply-script", "type": "command",
                                 "command": [sys.executable, str(script), "--region", "eu"]},
              token_connector="apply-script")
    secret = f"amzn.mws.{uuid.uuid4()}"
    outcome = renew_now(engine, deps.box, secret)
    place_confirmation(engine, outcome.renewal_id)
    report = job(engine, slack, deps, environ={**ENV, "SLACK_BOT_TOKEN": "xoxb-must-not-leak"})
    assert len(report.delivered) == 1
    seen = json.loads(got.read_text())
    assert seen["body"]["token"]["secret"] == secret and seen["body"]["delivery_id"] == outcome.delivery_id
    assert seen["argv"] == ["--region", "eu"] and "SLACK_BOT_TOKEN" not in seen["env"]
    (answer,) = slack.calls_to("chat.postMessage")
    assert "Amazon UK re-enabled by apply-script; Amazon DE: seller account suspended" in answer.params["text"]


def test_no_connector_says_the_platform_still_needs_it_and_done_records_who_confirmed(engine, slack, bot, deps):
    inventory(engine, token_connector=None)
    renew_in_slack(engine, slack, bot, f"amzn.mws.{uuid.uuid4()}")
    confirmation = slack.wait_for("chat.postMessage", count=2)[1].params
    assert "renewbot recorded the change; the platform still needs it" in confirmation["text"]
    (actions,) = [b for b in confirmation["blocks"] if b.get("block_id") == ids.PLATFORM_DONE_BLOCK]
    (button,) = actions["elements"]
    assert button["text"]["text"] == "Done in the platform" and button["action_id"] == ids.PLATFORM_DONE_BUTTON
    message = slack.messages["C0ALERTS"][-1]
    # Someone who is not an owner: refused, nothing recorded.
    assert bot.click(ids.PLATFORM_DONE_BUTTON, button["value"], message=message, user="U0STRANGER") == 200
    slack.wait_for("chat.postEphemeral")
    with session_scope(engine) as s:
        assert s.exec(select(PlatformConfirmation)).all() == []
    assert bot.click(ids.PLATFORM_DONE_BUTTON, button["value"], message=message) == 200
    (update,) = slack.wait_for("chat.update", count=2)[1:]
    assert update.params["ts"] == message["ts"]
    shown = json.dumps(update.params["blocks"])
    assert "confirmed by <@U0OWNER>" in shown and ids.PLATFORM_DONE_BUTTON not in shown
    with session_scope(engine) as s:
        (confirmed,) = s.exec(select(PlatformConfirmation)).all()
    assert (str(confirmed.renewal_id), confirmed.confirmed_by) == (button["value"], "U0OWNER")
    with session_scope(engine) as s:
        assert s.exec(select(Delivery)).all() == []


def test_planted_secret_reaches_the_platform_and_nowhere_else(engine, db_url, slack, bot, deps, platform,
                                                              captured_logs, capsys):  # noqa: F811
    inventory(engine, connector=webhook(platform.url))
    platform.answer(accounts={"amazon-de": "seller account suspended"})
    secret = f"amzn.mws.{uuid.uuid4()}"
    renew_in_slack(engine, slack, bot, secret)
    slack.wait_for("chat.postMessage", count=2)
    job(engine, slack, deps)
    slack.wait_for("chat.postMessage", count=3)
    cli.cmd_status(deps=deps, as_json=True)
    cli.cmd_status(deps=deps, as_json=False)
    status_output = capsys.readouterr().out

    (received,) = platform.deliveries
    assert received.body["token"]["secret"] == secret and secret.encode() in received.raw  # it is there, and only there
    assert secret not in captured_logs.getvalue() and "delivered" in captured_logs.getvalue()
    assert all(secret not in json.dumps(c.params) for c in slack.calls if c.method != "views.open")
    assert secret not in status_output
    raw = raw_database(db_url, engine)
    assert len(raw) > 0 and received.delivery_id.encode() in raw and secret.encode() not in raw


def test_serve_and_scan_refuse_to_start_in_one_line_while_a_connector_secret_is_unset(tmp_path, fernet_key):
    db_url = f"sqlite:///{tmp_path / 'refuse.db'}"
    engine = make_engine(db_url)
    from storage.migrate import upgrade
    upgrade(engine)
    inventory(engine, connector=webhook("https://commerce.example/hooks/renewbot"))
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {
        "DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s" * 32,
        "SLACK_API_URL": "http://127.0.0.1:9/api/", "TOKEN_ENCRYPTION_KEYS": fernet_key}
    for command in ("serve", "scan"):
        result = subprocess.run([sys.executable, str(ROOT / "bot.py"), command], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"{command}: ") and "commerce-eu (COMMERCE_EU_WEBHOOK_SECRET is not set)" in lines[0]


def test_socket_mode_web_app_serves_every_route_but_slack_events(engine, deps, slack):
    from renewbot.runtime.serve import build_app
    from renewbot.runtime.web import make_wsgi_app
    from tests.support.bot_server import standin_settings

    app = build_app(standin_settings(slack.url), deps)
    wsgi = make_wsgi_app(app, engine, "", slack_events=False)

    def call(method: str, path: str) -> str:
        seen = []
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": "2",
                   "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(b"{}"), "QUERY_STRING": "",
                   "SERVER_NAME": "x",
                   "SERVER_PORT": "1", "wsgi.url_scheme": "http"}
        b"".join(wsgi(environ, lambda status, headers: seen.append(status)))
        return seen[0]

    assert call("GET", "/healthz").startswith("200")
    assert call("POST", "/slack/events").startswith("404")
    assert call("POST", "/api/v1/accounts/amazon-uk/state").startswith("401")  # there, and asks for a key
