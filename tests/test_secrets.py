"""A planted secret is found nowhere: logs, Slack calls, status output, raw database. Keys rotate."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.crypto import SecretBox
from renewbot.errors import ConfigError
from renewbot.runtime import commands as cli
from renewbot.runtime.logs import RedactingFormatter, redact
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.keys import check_keys, rotate_keys
from storage.db import session_scope
from storage.models import Token
from tests.conftest import NOW
from tests.support.seed import seed, token
from tests.support.slack_requests import state_values

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def raw_database(db_url: str, engine) -> bytes:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        engine.dispose()
        files = [Path(url.database), Path(url.database + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dump = subprocess.run(["pg_dump", "--data-only", "-h", url.host, "-p", str(url.port or 5432),
                           "-U", url.username, url.database], capture_output=True, check=True)
    return dump.stdout


def test_planted_secret_is_nowhere_in_plain_text(engine, db_url, slack, bot, deps, captured_logs, capsys):
    secret = f"amzn.mws.{uuid.uuid4()}"
    seed(engine, now=NOW, tokens=[token("mws", NOW + timedelta(days=2), owners=["U0OWNER"])])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    bot.command("mws")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    # A refused submission first (the secret in a wrong shape for the kind), then the real one
    bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": secret + " extra"}}))
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": secret}}))
    assert status == 200 and answer is None
    slack.wait_for("chat.update")
    logging.getLogger("renewbot.test").warning("a careless line: %s", secret)  # the filter's job

    cli.cmd_status(deps=deps, as_json=True)
    cli.cmd_status(deps=deps, as_json=False)
    status_output = capsys.readouterr().out

    with session_scope(engine) as s:
        stored = s.get(Token, "mws").secret_encrypted
    assert deps.box.decrypt(stored) == secret  # it is there, encrypted
    logs = captured_logs.getvalue()
    assert "[redacted]" in logs and "renewed by U0OWNER" in logs
    assert secret not in logs
    assert all(secret not in json.dumps(c.params) for c in slack.calls)
    assert secret not in status_output and '"has_secret": true' in status_output
    raw = raw_database(db_url, engine)
    assert len(raw) > 0 and stored.encode() in raw and secret.encode() not in raw


def test_redaction_patterns():
    text = ("mws amzn.mws.1a2b3c4d-1111-2222-3333-444455556666 sp Atzr|IwEBIAbc123-_x lwa Atza|abc "
            "bot xoxb-123-456-abcdef app xapp-1-A0-123-abc fernet gAAAAABlongciphertextvalue_-=")
    out = redact(text)
    assert out.count("[redacted]") == 6 and "amzn.mws.1a2b" not in out and "xoxb-123" not in out
    assert redact("token amazon-eu-mws expires 2026-12-01") == "token amazon-eu-mws expires 2026-12-01"


def test_rotate_keys_reencrypts_everything_under_the_newest_key(engine):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    seed(engine, now=NOW, tokens=[token(f"t{i}", NOW + timedelta(days=90)) for i in range(3)])
    old_box = SecretBox((old,))
    with session_scope(engine) as s:
        for i in range(2):  # t2 has no secret
            s.get(Token, f"t{i}").secret_encrypted = old_box.encrypt(f"secret-{i}")
    assert rotate_keys(engine, SecretBox((new, old))) == 2
    new_only = SecretBox((new,))
    with session_scope(engine) as s:
        assert [new_only.decrypt(s.get(Token, f"t{i}").secret_encrypted) for i in range(2)] == ["secret-0", "secret-1"]
    check_keys(engine, new_only)  # the old key can now be dropped


def test_rotation_with_an_unreadable_secret_changes_nothing(engine):
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    seed(engine, now=NOW, tokens=[token("t0", NOW + timedelta(days=90)), token("t1", NOW + timedelta(days=90))])
    with session_scope(engine) as s:
        s.get(Token, "t0").secret_encrypted = SecretBox((a,)).encrypt("x")
        s.get(Token, "t1").secret_encrypted = SecretBox((b,)).encrypt("y")
    with session_scope(engine) as s:
        before = [s.get(Token, t).secret_encrypted for t in ("t0", "t1")]
    with pytest.raises(ConfigError, match="t1"):
        rotate_keys(engine, SecretBox((a,)))
    with session_scope(engine) as s:
        assert [s.get(Token, t).secret_encrypted for t in ("t0", "t1")] == before


def test_bot_refuses_to_start_without_a_key_that_reads_the_secrets(engine, db_url, tmp_path):
    key = Fernet.generate_key().decode()
    seed(engine, now=NOW, tokens=[token("t0", NOW + timedelta(days=90))])
    with session_scope(engine) as s:
        s.get(Token, "t0").secret_encrypted = SecretBox((key,)).encrypt("x")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")} | {"DATABASE_URL": db_url}

    def run(*args, **extra):
        return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    for command in ("serve", "scan"):
        missing = run(command)
        assert missing.returncode == 2 and "TOKEN_ENCRYPTION_KEYS is not set" in missing.stderr
        wrong = run(command, TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode())
        assert wrong.returncode == 2 and "cannot decrypt" in wrong.stderr and "Traceback" not in wrong.stderr
    rotated = run("rotate-keys", TOKEN_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},{key}")
    assert rotated.returncode == 0 and "re-encrypted 1 secret(s)" in rotated.stdout
    assert key not in rotated.stdout + rotated.stderr
