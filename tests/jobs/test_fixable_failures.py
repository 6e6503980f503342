"""A failure a person can fix does not lose the notice (issue item 11).

Not in a public channel: the bot joins and posts. A channel Slack cannot find (a private one the bot is not
in looks the same): failed, its owners told once, posted when the bot is added or on `retry-failed`, in the
token's current channel. The bot token refused: nothing failed, delivery pauses, /healthz says why.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlmodel import select

from jobs.deliver import SlackHealth, deliver_due
from jobs.scan import scan
from renewbot.runtime import cli, commands
from renewbot.runtime.deps import utc_now
from renewbot.runtime.serve import build_app
from renewbot.runtime.slack_client import make_client
from renewbot.runtime.web import make_wsgi_app
from renewbot.usecases.status import collect, render_text
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import Notice, NoticeState
from tests.conftest import NOW
from tests.support.bot_server import SIGNING_SECRET, settle, standin_settings
from tests.support.seed import seed, token


@pytest.fixture
def client(slack):
    return make_client("xoxb-test", slack.url)


def notices(engine) -> list[Notice]:
    with session_scope(engine) as s:
        return list(s.exec(select(Notice).order_by(Notice.id)).all())


def posts_in(slack, channel: str) -> list[dict]:
    return list(slack.messages.get(channel, []))


# --- not in a public channel: join and post --------------------------------

def test_not_in_a_public_channel_the_bot_joins_and_posts(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3), channel="C0PUBLIC")], now=NOW)
    slack.outside_channels.add("C0PUBLIC")
    report = scan(engine=engine, client=client, now=NOW).delivery
    assert len(report.sent) == 1 and not report.failed
    assert [c.params["channel"] for c in slack.calls_to("conversations.join")] == ["C0PUBLIC"]
    assert len(posts_in(slack, "C0PUBLIC")) == 1
    assert [n.state for n in notices(engine)] == ["sent"]


def test_a_join_slack_refuses_fails_with_the_joins_reason(engine, slack, client):
    seed(engine, tokens=[token("t1", NOW + timedelta(days=3), channel="C0OLD")], now=NOW)
    slack.outside_channels.add("C0OLD")
    slack.archived_channels.add("C0OLD")
    slack.fail_next("chat.postMessage", error="not_in_channel")
    report = scan(engine=engine, client=client, now=NOW).delivery
    assert len(report.failed) == 1
    (notice,) = notices(engine)
    assert (notice.state, notice.last_error) == ("failed", "is_archived")


# --- a channel Slack cannot find: failed, owners told once -----------------

def test_channel_not_found_fails_and_tells_each_owner_once_across_scans_and_stages(engine, slack, client):
    seed(engine, now=NOW, tokens=[
        token("t1", NOW + timedelta(days=9), channel="G0PRIV", owners=["U0ANN", "W0BOB", "S0GROUP"]),
        token("t2", NOW + timedelta(days=9), channel="G0PRIV", owners=["U0ANN"]),
        token("fine", NOW + timedelta(days=9), channel="C0OK", owners=["U0ANN"]),
    ])
    slack.missing_channels.add("G0PRIV")
    for day in (0, 1, 2, 6):  # 14d, then 7d (a new notice, failing again), then scans with nothing new
        scan(engine=engine, client=client, now=NOW + timedelta(days=day))
    assert {(n.token_id, n.stage, n.state) for n in notices(engine) if n.token_id != "fine"} == {
        ("t1", "14d", "failed"), ("t1", "7d", "failed"), ("t1", "3d", "failed"),
        ("t2", "14d", "failed"), ("t2", "7d", "failed"), ("t2", "3d", "failed")}
    # Once per token and channel: t1 tells both of its people (not the group), t2 its one.
    assert sorted(c.params["users"] for c in slack.calls_to("conversations.open")) == ["U0ANN", "U0ANN", "W0BOB"]
    dms = slack.dms_to("U0ANN")
    assert len(dms) == 2 and len(slack.dms_to("W0BOB")) == 1
    assert "invite @renewbot" in dms[0]["text"] and "<#G0PRIV>" in dms[0]["text"] and "`t1`" in dms[0]["text"]
    assert len(posts_in(slack, "C0OK")) == 3  # the good channel never waited on the bad one


def test_owners_that_cannot_be_told_do_not_stop_delivery(engine, slack, client, caplog):
    seed(engine, now=NOW, tokens=[token("nobody", NOW + timedelta(days=3), channel="C0GONE", owners=["S0GROUP"]),
                                  token("t1", NOW + timedelta(days=3), channel="C0GONE2", owners=["U0ANN"]),
                                  token("ok", NOW + timedelta(days=3), channel="C0OK")])
    slack.missing_channels.update({"C0GONE", "C0GONE2"})
    slack.fail_next("conversations.open", status=500, times=5)
    report = scan(engine=engine, client=client, now=NOW).delivery
    assert len(report.failed) == 2 and len(report.sent) == 1
    assert "names no owner to tell" in caplog.text and "could not tell U0ANN" in caplog.text


# --- retry-failed: the token's current channel ------------------------------

def test_retry_failed_after_fixing_the_channel_posts_to_the_new_one(engine, slack, client, deps, capsys):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=9), channel="C0WRONG"),
                                  token("other", NOW + timedelta(days=9), channel="C0ELSE")])
    slack.missing_channels.update({"C0WRONG", "C0ELSE"})
    scan(engine=engine, client=client, now=NOW)  # 14d fails
    scan(engine=engine, client=client, now=NOW + timedelta(days=2))  # 7d fails too
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=9), channel="C0RIGHT"),
                                  token("other", NOW + timedelta(days=9), channel="C0ELSE")])
    assert commands.cmd_retry_failed(channel="C0RIGHT", deps=deps) == 0
    assert "re-queued 1 failed notice(s) for C0RIGHT" in capsys.readouterr().out
    report = scan(engine=engine, client=client, now=NOW + timedelta(days=2)).delivery
    assert len(report.sent) == 1 and not report.failed
    # Only the nearest stage is posted, once, in the channel the inventory names now.
    (post,) = posts_in(slack, "C0RIGHT")
    assert "2026-12-05" in post["text"]
    by_stage = {(n.token_id, n.stage): n for n in notices(engine)}
    assert (by_stage["t1", "7d"].state, by_stage["t1", "7d"].channel) == ("sent", "C0RIGHT")
    assert by_stage["t1", "14d"].state == "superseded"
    assert by_stage["other", "7d"].state == "failed"  # --channel C0RIGHT left it alone


def test_retry_failed_on_the_command_line(engine, db_url, slack, client, monkeypatch, tmp_path, capsys):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), channel="C0GONE")])
    slack.missing_channels.add("C0GONE")
    scan(engine=engine, client=client, now=NOW)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr(cli, "configure_logging", lambda **kw: None)  # leave pytest's log capture alone
    assert cli.main(["retry-failed"]) == 0
    assert "retry-failed: re-queued 1 failed notice(s);" in capsys.readouterr().out
    assert [(n.state, n.attempts) for n in notices(engine)] == [("pending", 0)]


def test_retry_failed_leaves_a_notice_about_an_expiry_since_renewed(engine, slack, client, deps):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), channel="C0GONE")])
    slack.missing_channels.add("C0GONE")
    scan(engine=engine, client=client, now=NOW)
    with session_scope(engine) as s:
        s.execute(update(Notice).values(expires_at=NOW + timedelta(days=1)))  # as if about an older expiry
    assert commands.cmd_retry_failed(channel=None, deps=deps) == 0
    assert [n.state for n in notices(engine)] == ["failed"]


# --- the bot added to the channel: posted without a command -----------------

def member_joined_body(user: str, channel: str, event_id: str) -> str:
    return json.dumps({
        "token": "verification-token-test", "team_id": "T0TEST", "api_app_id": "A0TEST", "type": "event_callback",
        "event": {"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "G",
                  "team": "T0TEST", "event_ts": f"{int(time.time())}.000100"},
        "event_id": event_id, "event_time": int(time.time()),
    })


def test_the_bot_added_to_the_channel_posts_its_failed_notices(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token("t1", NOW + timedelta(days=3), channel="G0PRIV")])
    slack.missing_channels.add("G0PRIV")
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    assert [n.state for n in notices(engine)] == ["failed"]
    slack.missing_channels.discard("G0PRIV")  # someone invited the bot
    assert bot.post(member_joined_body("U0SOMEONE", "G0PRIV", "Ev01"))[0] == 200
    settle()
    assert [n.state for n in notices(engine)] == ["failed"]  # another member joining changes nothing
    assert bot.post(member_joined_body("UBOT", "G0PRIV", "Ev02"))[0] == 200
    deadline = time.monotonic() + 10
    while notices(engine)[0].state != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert notices(engine)[0].state == "sent"
    assert len(posts_in(slack, "G0PRIV")) == 1


# --- the bot token refused: nothing failed, delivery paused, /healthz says why

def healthz(wsgi) -> tuple[str, dict]:
    answer = {}
    body = wsgi({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()},
                lambda status, headers: answer.update(status=status))
    return answer["status"], json.loads(b"".join(body))


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_bot_token_pauses_delivery_marks_nothing_failed_and_turns_healthz_503(engine, slack, client, deps):
    seed(engine, now=NOW, tokens=[token("a", NOW + timedelta(days=3), channel="C0ONE"),
                                  token("b", NOW + timedelta(days=3), channel="C0ONE"),
                                  token("c", NOW + timedelta(days=3), channel="C0TWO")])
    ticks = Ticks()
    health = SlackHealth(monotonic=ticks)
    wsgi = make_wsgi_app(build_app(standin_settings(slack.url), deps), engine, SIGNING_SECRET, slack_health=health)
    assert healthz(wsgi) == ("200 OK", {"ok": True, "database": "ok"})
    slack.fail_next("chat.postMessage", error="invalid_auth", times=2)  # whichever channel goes first, or both
    report = scan(engine=engine, client=client, now=NOW, health=health).delivery
    assert report.refused == "invalid_auth" and not report.failed and not report.sent
    assert [(n.state, n.attempts, n.last_error) for n in notices(engine)] == [("pending", 0, None)] * 3
    assert healthz(wsgi) == ("503 Service Unavailable", {"ok": False, "database": "ok", "slack": "invalid_auth"})
    tried = len(slack.calls)
    ticks.now += 30  # within the minute: not even auth.test
    assert deliver_due(engine=engine, client=client, now=NOW, health=health).refused == "invalid_auth"
    assert len(slack.calls) == tried
    ticks.now += 31  # a minute on: auth.test, still refused
    slack.fail_next("auth.test", error="token_revoked")
    assert deliver_due(engine=engine, client=client, now=NOW, health=health).sent == []
    assert [c.method for c in slack.calls[tried:]] == ["auth.test"]
    assert healthz(wsgi)[1]["slack"] == "token_revoked"
    ticks.now += 61  # the token works again (a new one installed): delivery resumes
    slack.reset()
    later = NOW + timedelta(minutes=2)
    assert len(deliver_due(engine=engine, client=client, now=later, health=health).sent) == 3
    assert healthz(wsgi)[0] == "200 OK"
    assert [n.state for n in notices(engine)] == ["sent"] * 3


@pytest.mark.parametrize("outage", ["503", "drop"])
def test_a_slack_outage_is_retried_and_does_not_turn_healthz_503(engine, slack, client, deps, outage):
    seed(engine, now=NOW, tokens=[token("a", NOW + timedelta(days=3))])
    if outage == "503":
        slack.fail_next("chat.postMessage", status=503, times=3)  # more than the client's own retries
    else:
        slack.drop_connection_next("chat.postMessage", times=3)
    health = SlackHealth()
    wsgi = make_wsgi_app(build_app(standin_settings(slack.url), deps), engine, SIGNING_SECRET, slack_health=health)
    report = scan(engine=engine, client=client, now=NOW, health=health).delivery
    assert report.retrying and report.refused is None and health.refused is None
    assert healthz(wsgi)[0] == "200 OK"
    assert notices(engine)[0].state == "pending"


def test_serve_pauses_on_a_refused_token_and_its_healthz_says_so(tmp_path, slack):
    """The wiring: serve's scheduler and its /healthz share one SlackHealth."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    eng = make_engine(url)
    upgrade(eng)
    seed(eng, now=utc_now(), tokens=[token("t1", utc_now() + timedelta(days=3))])
    eng.dispose()
    slack.fail_next("chat.postMessage", error="invalid_auth")  # auth.test at start-up still passes
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}, "DATABASE_URL": url,
           "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
           "PORT": str(port), "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    bot_py = Path(__file__).resolve().parents[2] / "bot.py"
    proc = subprocess.Popen([sys.executable, str(bot_py), "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, answer = time.monotonic() + 20, None
        while answer is None or answer[0] != 503:
            assert time.monotonic() < deadline and proc.poll() is None, f"no 503 from /healthz: {answer}"
            time.sleep(0.1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    answer = resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as err:
                answer = err.code, json.loads(err.read())
            except OSError:
                pass  # not listening yet
        assert answer[1] == {"ok": False, "database": "ok", "slack": "invalid_auth"}
        assert slack.messages.get("C0ALERTS", []) == []
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# --- status: each failure with its fix ---------------------------------------

def test_status_says_how_to_fix_each_failure(engine, slack, client):
    seed(engine, now=NOW, tokens=[token("gone", NOW + timedelta(days=3), channel="C0GONE"),
                                  token("legacy", NOW + timedelta(days=3), channel="C0OK")])
    slack.missing_channels.add("C0GONE")
    scan(engine=engine, client=client, now=NOW)
    with session_scope(engine) as s:  # what an earlier release recorded for a refused token
        s.execute(update(Notice).where(Notice.token_id == "legacy")
                  .values(state=NoticeState.FAILED, last_error="invalid_auth"))
    with session_scope(engine) as s:
        status = collect(session=s, now=NOW)
    by_id = {t["id"]: t for t in status.to_json()["tokens"]}
    (gone,) = by_id["gone"]["failed_notices"]
    assert list(gone) == ["id", "stage", "error", "fix"] and gone["error"] == "channel_not_found"
    assert "invite @renewbot to the channel" in gone["fix"] and "check the channel id in the import file" in gone["fix"]
    assert by_id["legacy"]["failed_notices"][0]["fix"].startswith(
        "the bot token was refused: reinstall the app or set SLACK_BOT_TOKEN")
    text = render_text(status)
    assert "failed: channel_not_found" in text and "fix: invite @renewbot to the channel" in text
