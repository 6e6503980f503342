"""Connector types from plugins: a real installed distribution with a `renewbot.connectors` entry point."""

from __future__ import annotations

import logging
import textwrap

import pytest

from renewbot.connectors.base import DeliveryRequest, Outcome
from renewbot.connectors.command import COMMAND
from renewbot.connectors.registry import BUILTIN_TYPES, ENTRY_POINT_GROUP, connector_types
from renewbot.connectors.webhook import WEBHOOK
from renewbot.runtime.cli import main

PLUGIN = '''
from renewbot.connectors.base import Attempt, Outcome


class SftpType:
    name = "sftp"

    def check(self, config):
        return [] if isinstance(config.get("host"), str) else ["host is missing (the SFTP server)"]

    def secret_env(self, config):
        return config.get("key_env")

    def sender(self, config, environ):
        if not environ.get(config.get("key_env", "")):
            raise LookupError("the key is not set")

        def send(request):
            return Attempt(Outcome.DELIVERED, f"uploaded {len(request.body)} bytes to {config['host']}")
        return send


SFTP = SftpType()


class Impostor:
    name = "webhook"


class Misnamed:
    name = "not-what-the-entry-point-says"

'''


def install(tmp_path, monkeypatch, entry_points: str) -> None:
    """A distribution as pip leaves it: the package, and a dist-info folder naming its entry points."""
    site = tmp_path / "site"
    (site / "renewbot_sftp").mkdir(parents=True)
    (site / "renewbot_sftp" / "__init__.py").write_text(PLUGIN)
    info = site / "renewbot_sftp-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: renewbot-sftp\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    monkeypatch.syspath_prepend(str(site))


def test_the_builtin_types():
    assert connector_types() == {"webhook": WEBHOOK, "command": COMMAND} == BUILTIN_TYPES


def test_a_plugin_type_is_found_checked_and_used(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, f"[{ENTRY_POINT_GROUP}]\nsftp = renewbot_sftp:SFTP\n")
    types = connector_types()
    assert set(types) == {"webhook", "command", "sftp"}
    sftp = types["sftp"]
    assert sftp.check({"host": "files.example"}) == [] and sftp.check({}) == ["host is missing (the SFTP server)"]
    attempt = sftp.sender({"host": "files.example", "key_env": "K"}, {"K": "x"})(DeliveryRequest("ping", "d", b"{}"))
    assert attempt.outcome is Outcome.DELIVERED and attempt.detail == "uploaded 2 bytes to files.example"


def test_plugins_cannot_replace_a_builtin_type_and_bad_ones_are_left_out(tmp_path, monkeypatch, caplog):
    install(tmp_path, monkeypatch, f"""
        [{ENTRY_POINT_GROUP}]
        webhook = renewbot_sftp:Impostor
        other = renewbot_sftp:Misnamed
        missing = renewbot_sftp:NoSuchThing
        gone = renewbot_sftp_gone:SFTP
        sftp = renewbot_sftp:SFTP
        """)
    with caplog.at_level(logging.WARNING):
        types = connector_types()
    assert set(types) == {"webhook", "command", "sftp"} and types["webhook"] is WEBHOOK
    logged = caplog.text
    assert "renewbot_sftp:Impostor tries to replace the built-in type 'webhook': ignored" in logged
    assert "plugin missing (renewbot_sftp:NoSuchThing) failed to load" in logged
    assert "plugin gone (renewbot_sftp_gone:SFTP) failed to load" in logged
    assert "its name 'not-what-the-entry-point-says' differs from the entry point's" in logged


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'renewbot.db'}")
    assert main(["migrate"]) == 0


def test_import_accepts_a_plugin_connector_and_refuses_its_bad_entries(tmp_path, monkeypatch, db, capsys):
    install(tmp_path, monkeypatch, f"[{ENTRY_POINT_GROUP}]\nsftp = renewbot_sftp:SFTP\n")
    good = tmp_path / "good.yml"
    good.write_text("connectors:\n  - id: files\n    type: sftp\n    host: files.example\n    key_env: SFTP_KEY\n")
    assert main(["import", str(good)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("connectors:\n  - id: files2\n    type: sftp\n")
    capsys.readouterr()
    assert main(["import", str(bad)]) == 1
    assert "connectors[0] (id 'files2', line 2): host is missing (the SFTP server)" in capsys.readouterr().err
    # and `connectors test` uses it, with its own secret_env checked first
    capsys.readouterr()
    assert main(["connectors", "test", "files"]) == 2
    assert capsys.readouterr().err == ("connectors test: SFTP_KEY is not set "
                                       "(the signing secret of connector 'files')\n")
    monkeypatch.setenv("SFTP_KEY", "k")
    assert main(["connectors", "test", "files"]) == 0
    assert "files (sftp): delivered: uploaded" in capsys.readouterr().out


def test_a_stored_connector_whose_plugin_is_gone(tmp_path, monkeypatch, db, capsys):
    with monkeypatch.context() as installed:
        install(tmp_path, installed, f"[{ENTRY_POINT_GROUP}]\nsftp = renewbot_sftp:SFTP\n")
        good = tmp_path / "good.yml"
        good.write_text("connectors:\n  - id: files\n    type: sftp\n    host: files.example\n")
        assert main(["import", str(good)]) == 0
    capsys.readouterr()
    assert main(["connectors", "test", "files"]) == 2
    assert "has type 'sftp', which is not installed (installed: command, webhook)" in capsys.readouterr().err
