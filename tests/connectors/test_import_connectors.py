"""The import file's connectors: section: what it accepts, and what it refuses whole, by entry and line."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from renewbot.runtime.cli import main
from storage.db import make_engine
from storage.models import Account, Connector, Token

GOOD = """\
connectors:
  - id: commerce-eu
    type: webhook
    url: https://commerce.example/hooks/renewbot
    secret_env: COMMERCE_EU_WEBHOOK_SECRET
  - id: apply-script
    type: command
    command: ["/usr/local/bin/apply-renewal", "--region", "eu"]
accounts:
  - id: amazon-uk
    name: Amazon UK
tokens:
  - id: amazon-eu-mws
    kind: amazon-mws
    name: Amazon EU MWS token
    expires_at: 2026-12-01
    channel: C0123ALERTS
    accounts: [amazon-uk]
    connector: commerce-eu
"""


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'renewbot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    return url


def rows(url: str) -> dict[str, list]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {"connectors": [(c.id, c.type, c.config) for c in session.exec(select(Connector))],
                    "tokens": [(t.id, t.connector) for t in session.exec(select(Token))],
                    "accounts": [a.id for a in session.exec(select(Account))]}
    finally:
        engine.dispose()


def run_import(tmp_path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    capsys.readouterr()
    code = main(["import", str(path)])
    return code, capsys.readouterr().err


def test_connectors_are_stored_and_a_token_names_one(db, tmp_path, capsys):
    assert run_import(tmp_path, GOOD, capsys)[0] == 0
    stored = rows(db)
    assert sorted(stored["connectors"]) == [
        ("apply-script", "command", {"command": ["/usr/local/bin/apply-renewal", "--region", "eu"]}),
        ("commerce-eu", "webhook", {"url": "https://commerce.example/hooks/renewbot",
                                    "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"})]
    assert stored["tokens"] == [("amazon-eu-mws", "commerce-eu")]
    # a later file may name a connector that is already stored, without repeating it
    later = GOOD.split("accounts:")[0].replace("commerce-eu\n    type", "commerce-us\n    type").replace(
        "apply-script", "apply-us") + "tokens:" + GOOD.split("tokens:")[1].replace("amazon-uk]", "]")
    assert run_import(tmp_path, later, capsys)[0] == 0


def refused(db, tmp_path, capsys, text: str) -> list[str]:
    code, err = run_import(tmp_path, text, capsys)
    assert code == 1
    assert err.splitlines()[0].endswith("refused, nothing was imported")
    assert rows(db) == {"connectors": [], "tokens": [], "accounts": []}  # nothing written, not even the good rows
    return err.splitlines()[1:]


def test_a_token_naming_an_unknown_connector(db, tmp_path, capsys):
    problems = refused(db, tmp_path, capsys, GOOD.replace("connector: commerce-eu", "connector: commerce-us"))
    assert problems == [f"  {tmp_path / 'inventory.yml'}: tokens[0] (id 'amazon-eu-mws', line 13): "
                        "unknown connector 'commerce-us' (define it under connectors:)"]


@pytest.mark.parametrize("url", ["http://commerce.example/hooks", "ftp://commerce.example/hooks",
                                 "http://10.0.0.5/hooks", "https://user:pw@commerce.example/hooks"])
def test_a_webhook_url_neither_https_nor_local(db, tmp_path, capsys, url):
    (problem,) = refused(db, tmp_path, capsys, GOOD.replace("https://commerce.example/hooks/renewbot", url))
    assert "connectors[0] (id 'commerce-eu', line 2): url" in problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hooks", "http://localhost/hooks", "http://[::1]:9/h"])
def test_plain_http_to_this_machine_is_fine(db, tmp_path, capsys, url):
    assert run_import(tmp_path, GOOD.replace("https://commerce.example/hooks/renewbot", url), capsys)[0] == 0


def test_a_duplicate_connector_id(db, tmp_path, capsys):
    problems = refused(db, tmp_path, capsys, GOOD.replace("id: apply-script", "id: commerce-eu"))
    assert problems == [f"  {tmp_path / 'inventory.yml'}: connectors[1] (id 'commerce-eu', line 6): "
                        "duplicate connector id 'commerce-eu'"]


def test_an_unknown_connector_type(db, tmp_path, capsys):
    problems = refused(db, tmp_path, capsys, GOOD.replace("type: command", "type: sftp"))
    assert len(problems) == 1
    assert "connectors[1] (id 'apply-script', line 6): unknown connector type 'sftp' (known: " in problems[0]
    assert "command" in problems[0] and "webhook" in problems[0]


@pytest.mark.parametrize(("change", "problem"), [
    (("secret_env: COMMERCE_EU_WEBHOOK_SECRET", "secret_env: whsec-abc123"), "secret_env must name an environment"),
    (("    secret_env: COMMERCE_EU_WEBHOOK_SECRET\n", ""), "secret_env is missing"),
    (("    secret_env:", "    secret: whsec-in-the-file\n    secret_env:"), "unknown field 'secret'"),
    (('command: ["/usr/local/bin/apply-renewal", "--region", "eu"]', 'command: "apply-renewal --region eu"'),
     "command must be a list"),
    (('command: ["/usr/local/bin/apply-renewal", "--region", "eu"]', "command: []"), "command must be a list"),
])
def test_a_types_own_fields_are_checked(db, tmp_path, capsys, change, problem):
    (found,) = refused(db, tmp_path, capsys, GOOD.replace(*change))
    assert problem in found
    assert "whsec" not in found  # a secret put in the file by mistake is not echoed back
