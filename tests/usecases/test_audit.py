"""The audit export: every renewal, oldest first, in text, JSON and CSV; it outlives its token; no secrets."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from renewbot.crypto import SecretBox
from renewbot.domain.validation import Submission
from renewbot.runtime.cli import main
from renewbot.usecases import audit
from renewbot.usecases.renewal import apply_renewal
from renewbot.usecases.retire import retire
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import Renewal, Token
from tests.conftest import NOW
from tests.support.seed import account, seed, token

SECRET = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
SP_SECRET = "Atzr|IwEBIJk1Yq0sEcReT-sp-api-refresh"
NEW_EXPIRY = datetime(2027, 11, 26, tzinfo=UTC)
WORLD = dict(
    accounts=[account("amazon-uk", enabled=False), account("amazon-de", enabled=False), account("amazon-fr")],
    tokens=[token("mws", NOW + timedelta(days=3), name='Amazon "EU", MWS', accounts=["amazon-uk", "amazon-de"]),
            token("sp", NOW + timedelta(days=9), kind="amazon-sp-api", accounts=["amazon-fr"])],
)
UK = dict(id="amazon-uk", name="Amazon Uk", reenabled=True, enabled=True, fetch_orders=True)
DE = dict(id="amazon-de", name="Amazon De", reenabled=True, enabled=True, fetch_orders=False)
FR = dict(id="amazon-fr", name="Amazon Fr", reenabled=False, enabled=True, fetch_orders=True)


@pytest.fixture
def box(fernet_key) -> SecretBox:
    return SecretBox((fernet_key,))


def renew_both(engine, box) -> None:
    """sp is renewed first in the table but later in time: the export goes by when."""
    with session_scope(engine) as s:
        apply_renewal(session=s, box=box, user_id="U0SECOND", now=NOW + timedelta(hours=2),
                      submission=Submission(token_id="sp", version=1, secret=SP_SECRET, new_expiry=NEW_EXPIRY,
                                            reenable=frozenset(), no_fetch=frozenset()))
    with session_scope(engine) as s:
        apply_renewal(session=s, box=box, user_id="U0OWNER", now=NOW,
                      submission=Submission(token_id="mws", version=1, secret=SECRET, new_expiry=NEW_EXPIRY,
                                            reenable=frozenset({"amazon-uk", "amazon-de"}),
                                            no_fetch=frozenset({"amazon-de"})))


@pytest.fixture
def world(engine, box):
    seed(engine, now=NOW, **WORLD)
    renew_both(engine, box)
    return engine


def entries(engine, token_id=None) -> list[audit.AuditEntry]:
    with session_scope(engine) as s:
        return audit.collect(session=s, token_id=token_id)


MWS_JSON = {
    "renewed_at": "2026-11-26T12:00:00+00:00", "token_id": "mws", "token_name": 'Amazon "EU", MWS',
    "renewed_by": "U0OWNER", "old_expires_at": "2026-11-29T12:00:00+00:00",
    "new_expires_at": "2027-11-26T00:00:00+00:00", "accounts": [UK, DE],
}
SP_JSON = {
    "renewed_at": "2026-11-26T14:00:00+00:00", "token_id": "sp", "token_name": "Token sp",
    "renewed_by": "U0SECOND", "old_expires_at": "2026-12-05T12:00:00+00:00",
    "new_expires_at": "2027-11-26T00:00:00+00:00", "accounts": [FR],
}


def test_every_renewal_oldest_first_as_json(world):
    assert [e.to_json() for e in entries(world)] == [MWS_JSON, SP_JSON]
    assert [e.to_json() for e in entries(world, "sp")] == [SP_JSON]


def test_the_text_table_is_aligned_one_line_a_renewal(world):
    lines = audit.render_text(entries(world)).splitlines()
    assert lines == [
        "RENEWED AT (UTC)           TOKEN  BY        EXPIRY                   ACCOUNTS",
        "2026-11-26T12:00:00+00:00  mws    U0OWNER   2026-11-29 → 2027-11-26  "
        "amazon-uk re-enabled, amazon-de re-enabled + don't fetch",
        "2026-11-26T14:00:00+00:00  sp     U0SECOND  2026-12-05 → 2027-11-26  amazon-fr enabled",
    ]


def test_the_accounts_summary_says_what_was_done_and_what_stayed():
    assert audit.accounts_summary([UK, DE, FR]) == (
        "amazon-uk re-enabled, amazon-de re-enabled + don't fetch, amazon-fr enabled")
    off = dict(id="amazon-it", name="Amazon It", reenabled=False, enabled=False, fetch_orders=False)
    assert audit.accounts_summary([off]) == "amazon-it disabled + don't fetch"
    assert audit.accounts_summary([]) == ""


def test_csv_parses_back_to_the_same_values(world):
    rows = list(csv.reader(io.StringIO(audit.render_csv(entries(world)))))
    assert rows[0] == list(audit.CSV_FIELDS)
    expected = [[j["renewed_at"], j["token_id"], j["token_name"], j["renewed_by"], j["old_expires_at"],
                 j["new_expires_at"], audit.accounts_summary(j["accounts"])] for j in (MWS_JSON, SP_JSON)]
    assert rows[1:] == expected
    assert rows[1][2] == 'Amazon "EU", MWS'  # a comma and quotes in a name survive the round trip


def test_the_audit_outlives_its_token_row_deleted_with_sql(world):
    with session_scope(world) as s:
        s.execute(text("DELETE FROM token WHERE id = 'mws'"))  # what no renewbot command does
    with session_scope(world) as s:
        assert s.get(Token, "mws") is None
        assert sorted(r.token_id for r in s.exec(select(Renewal))) == ["mws", "sp"]  # no cascade
    assert [e.to_json() for e in entries(world)] == [{**MWS_JSON, "token_name": None}, SP_JSON]
    assert audit.render_text(entries(world, "mws")).splitlines()[1].startswith("2026-11-26T12:00:00+00:00  mws ")
    assert list(csv.reader(io.StringIO(audit.render_csv(entries(world, "mws")))))[1][:3] == [
        "2026-11-26T12:00:00+00:00", "mws", ""]


def test_a_retired_tokens_renewals_stay_in_the_audit(world):
    with session_scope(world) as s:
        retire(session=s, row_id="mws", now=NOW)
    assert [e.to_json() for e in entries(world)] == [MWS_JSON, SP_JSON]


def test_no_renewals_is_said_plainly_in_each_format(world):
    none = entries(world, "no-such-token")
    assert none == []
    assert audit.render_text(none) == "no renewals recorded"
    assert audit.render_csv(none) == ",".join(audit.CSV_FIELDS) + "\n"


def test_no_secret_reaches_any_format(world):
    with session_scope(world) as s:
        stored = [t.secret_encrypted for t in s.exec(select(Token))]
    found = entries(world)
    outputs = [audit.render_text(found), audit.render_csv(found), json.dumps([e.to_json() for e in found])]
    planted = [SECRET, SP_SECRET, *stored]
    leaked = any(secret in output for secret in planted for output in outputs)
    assert leaked is False  # a boolean, so a failure does not print the secret


# --- the command, in-process -------------------------------------------------------------------

@pytest.fixture
def cli_world(tmp_path, monkeypatch, box):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    eng = make_engine(url)
    upgrade(eng)
    seed(eng, now=NOW, **WORLD)
    renew_both(eng, box)
    yield eng
    eng.dispose()


def test_the_audit_command_in_each_format(cli_world, capsys):
    assert main(["audit"]) == 0
    assert capsys.readouterr().out == audit.render_text(entries(cli_world)) + "\n"
    assert main(["audit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [MWS_JSON, SP_JSON]
    assert main(["audit", "--csv", "--token", "sp"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[1] for r in rows] == ["token_id", "sp"]


def test_the_audit_command_for_an_unknown_token_prints_nothing_found_and_exits_0(cli_world, capsys):
    assert main(["audit", "--token", "gone"]) == 0
    assert capsys.readouterr().out == "no renewals recorded\n"
    assert main(["audit", "--token", "gone", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["audit", "--token", "gone", "--csv"]) == 0
    assert capsys.readouterr().out == ",".join(audit.CSV_FIELDS) + "\n"


def test_json_and_csv_together_are_refused(cli_world, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--json", "--csv"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_audit_command_prints_no_secret(cli_world, capsys):
    with session_scope(cli_world) as s:
        planted = [SECRET, SP_SECRET, *(t.secret_encrypted for t in s.exec(select(Token)))]
    for flags in ([], ["--json"], ["--csv"]):
        assert main(["audit", *flags]) == 0
        out = capsys.readouterr().out
        leaked = any(secret in out for secret in planted)
        assert leaked is False, f"audit {flags} printed a secret"
