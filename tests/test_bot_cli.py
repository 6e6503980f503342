"""bot.py as a person runs it: real processes, the README's commands, the interface contract."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.bot_server import SIGNING_SECRET
from tests.support.slack_requests import post_signed, slash_command_body

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tokens.yml"
SECRET = "amzn.mws.5d3c1a2b-0000-4000-8000-00000000beef"


def run(args, env, cwd, timeout=60):
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path, db_url):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**base, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}


def test_help_lists_the_commands(env, tmp_path):
    out = run(["--help"], env, tmp_path).stdout
    for command in ("serve", "import", "scan", "status"):
        assert command in out


def test_default_database_is_a_sqlite_file_under_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = run(["import", str(EXAMPLE)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "renewbot.db").is_file()


def test_import_is_idempotent_and_status_has_the_contract_shape(env, tmp_path):
    first = run(["import", str(EXAMPLE)], env, tmp_path)
    assert first.returncode == 0 and "8 created" in first.stdout
    second = run(["import", str(EXAMPLE)], env, tmp_path)
    assert "0 created, 0 updated, 8 unchanged" in second.stdout
    status = json.loads(run(["status", "--json"], env, tmp_path).stdout)
    tok = next(t for t in status["tokens"] if t["id"] == "amazon-eu-sp-api")
    assert {"id", "name", "kind", "expires_at", "stage", "open_notice"} <= set(tok)
    assert tok["expires_at"] == "2026-12-01T00:00:00+00:00" and tok["kind"] == "amazon-sp-api"
    acc = next(a for a in status["accounts"] if a["id"] == "amazon-de")
    assert acc["enabled"] is True and acc["fetch_orders"] is False


def test_bad_import_names_file_and_entry_and_writes_nothing(env, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(EXAMPLE.read_text().replace("accounts: [amazon-uk, amazon-de]\n", "accounts: [amazon-fr]\n"))
    result = run(["import", str(bad)], env, tmp_path)
    assert result.returncode == 1
    assert "bad.yml" in result.stderr and "tokens[0] (id 'amazon-eu-sp-api', line" in result.stderr
    assert "unknown account 'amazon-fr'" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(run(["status", "--json"], env, tmp_path).stdout) == {"tokens": [], "accounts": []}


def test_scan_without_slack_credentials_is_a_dry_run(env, tmp_path):
    run(["import", str(EXAMPLE)], env, tmp_path)
    result = run(["scan"], env, tmp_path)
    assert result.returncode == 0
    assert "dry run" in result.stderr
    assert "[dry-run] would post to C0123ALERTS" in result.stdout and "Amazon EU SP-API authorization" in result.stdout
    status = json.loads(run(["status", "--json"], env, tmp_path).stdout)
    assert all(t["open_notice"] is None for t in status["tokens"])  # a dry run records nothing


def test_scan_posts_once_and_exits(env, tmp_path, slack):
    env = {**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.url}
    run(["import", str(EXAMPLE)], env, tmp_path)
    first = run(["scan"], env, tmp_path)
    assert first.returncode == 0 and "1 sent" in first.stdout, first.stderr
    assert "0 sent" in run(["scan"], env, tmp_path).stdout
    # One notice; beside it the escalation at expiry and the weekly digest (issue 12), each once too.
    events = [c.params["metadata"]["event_type"] for c in slack.calls_to("chat.postMessage")]
    assert sorted(events) == ["renewbot_digest", "renewbot_followup", "renewbot_notice"]
    assert run(["scan", "--dry-run"], env, tmp_path).stdout.strip() == "[dry-run] nothing is due"


def test_scan_with_an_unreachable_database_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    result = run(["scan"], env, tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "DATABASE_URL" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_and_commands_and_stops_on_sigterm(env, tmp_path, slack):
    port = free_port()
    key = Fernet.generate_key().decode()
    env = {**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.url, "PORT": str(port), "TOKEN_ENCRYPTION_KEYS": key}
    assert run(["import", str(EXAMPLE)], env, tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    assert resp.status == 200 and json.loads(resp.read())["ok"] is True
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not become healthy"
                time.sleep(0.1)
        slack.wait_for("chat.postMessage", timeout=10)  # the scan also runs at start-up
        body = slash_command_body(text="amazon-eu-sp-api", user_id="U0123OWNER", response_url=slack.response_url())
        status, _, _ = post_signed(f"http://127.0.0.1:{port}/slack/events", body, SIGNING_SECRET)
        assert status == 200
        slack.wait_for("views.open")
        status, _, _ = post_signed(f"http://127.0.0.1:{port}/slack/events", body, "forged")
        assert status == 401
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "received SIGTERM" in output and "stopped" in output and "Traceback" not in output
    assert SECRET not in output and "xoxb-test" not in output


def test_serve_uses_socket_mode_when_an_app_token_is_set(env, tmp_path, slack):
    port = free_port()
    env = {**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_APP_TOKEN": "xapp-test", "SLACK_API_URL": slack.url,
           "PORT": str(port)}
    result = run(["serve"], env, tmp_path, timeout=30)
    (opened,) = slack.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == "Bearer xapp-test"
    # The stand-in has no WebSocket side: serve must say so in one line and exit, not fall back to HTTP.
    assert result.returncode == 2 and "Socket Mode" in result.stderr and "Traceback" not in result.stderr
    assert "serving HTTP" not in result.stderr
