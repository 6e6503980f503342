"""`renewbot connectors test ID` through the real command line, against the platform stand-in."""

from __future__ import annotations

import json
import stat
import sys

import pytest

from renewbot.runtime.cli import main
from tests.connectors.conftest import WEBHOOK_SECRET


@pytest.fixture
def cli(tmp_path, monkeypatch, platform):
    """A fresh SQLite database holding a webhook connector aimed at the stand-in, and a command connector."""
    monkeypatch.chdir(tmp_path)  # no stray ./.env
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "TOKEN_ENCRYPTION_KEYS", "COMMERCE_EU_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'renewbot.db'}")
    seen = tmp_path / "ping.json"
    script = tmp_path / "apply"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(seen)!r}, 'wb').write(sys.stdin.buffer.read())\n"
                      "print('{\"accounts\": [{\"id\": \"amazon-uk\", \"ok\": true}]}')\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(f"""
connectors:
  - id: commerce-eu
    type: webhook
    url: {platform.url}
    secret_env: COMMERCE_EU_WEBHOOK_SECRET
  - id: apply-script
    type: command
    command: [{str(script)!r}, "--region", "eu"]
""")
    assert main(["import", str(inventory)]) == 0
    return seen


def test_a_ping_reaches_the_platform_signed_and_the_answer_is_printed(cli, platform, monkeypatch, capsys):
    monkeypatch.setenv("COMMERCE_EU_WEBHOOK_SECRET", WEBHOOK_SECRET)
    capsys.readouterr()
    assert main(["connectors", "test", "commerce-eu"]) == 0
    out = capsys.readouterr().out
    (got,) = platform.deliveries  # the stand-in checked the signature with the same secret
    assert got.event == "ping" and got.headers["Renewbot-Event"] == "ping"
    assert set(got.body) == {"type", "delivery_id", "occurred_at", "connector"}
    assert got.body["type"] == "ping" and got.body["connector"] == "commerce-eu"
    assert got.body["delivery_id"] == got.delivery_id and got.delivery_id.startswith("ping-")
    assert out.startswith("connectors test: commerce-eu (webhook): delivered: HTTP 200\n")
    assert f"delivery id: {got.delivery_id}" in out and 'reply: {"accounts": []}' in out
    assert WEBHOOK_SECRET not in out


def test_a_refusing_platform_exits_1_with_the_reason(cli, platform, monkeypatch, capsys):
    monkeypatch.setenv("COMMERCE_EU_WEBHOOK_SECRET", WEBHOOK_SECRET)
    platform.answer(status=503, retry_after="30")
    assert main(["connectors", "test", "commerce-eu"]) == 1
    out = capsys.readouterr().out
    assert "commerce-eu (webhook): not delivered, would be retried: HTTP 503" in out
    assert "asked to wait 30 s" in out
    platform.answer(status=404)
    assert main(["connectors", "test", "commerce-eu"]) == 1
    assert "not delivered, would fail for good: HTTP 404" in capsys.readouterr().out


def test_a_wrong_secret_shows_as_the_platforms_refusal(cli, platform, monkeypatch, capsys):
    monkeypatch.setenv("COMMERCE_EU_WEBHOOK_SECRET", "whsec-not-the-platforms")
    assert main(["connectors", "test", "commerce-eu"]) == 1
    assert "HTTP 401: bad signature" in capsys.readouterr().out and platform.rejected == 1


def test_the_command_connector_gets_the_ping_on_stdin(cli, capsys):
    assert main(["connectors", "test", "apply-script"]) == 0
    out = capsys.readouterr().out
    assert "apply-script (command): delivered: exit 0" in out and "account amazon-uk: ok" in out
    assert json.loads(cli.read_bytes())["connector"] == "apply-script"


def test_an_unset_secret_is_one_line_naming_the_variable(cli, platform, capsys):
    capsys.readouterr()
    assert main(["connectors", "test", "commerce-eu"]) == 2
    err = capsys.readouterr().err
    assert err == ("connectors test: COMMERCE_EU_WEBHOOK_SECRET is not set "
                   "(the signing secret of connector 'commerce-eu')\n")
    assert platform.deliveries == [] and platform.rejected == 0


def test_an_unknown_id_is_named(cli, platform, capsys):
    capsys.readouterr()
    assert main(["connectors", "test", "commerce-us"]) == 2
    err = capsys.readouterr().err
    assert "no connector with id 'commerce-us'" in err and "stored: apply-script, commerce-eu" in err


def test_the_subcommand_and_id_are_required(cli, capsys):
    for argv in (["connectors"], ["connectors", "test"], ["connectors", "ping", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
