"""Who owns which field: the file describes the inventory, renewals own what happened since. And team kinds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from handlers.payload import read_renewal_form
from renewbot.blocks import ids
from renewbot.blocks.modal import renew_modal
from renewbot.blocks.notice import notice_blocks
from renewbot.blocks.runbook import runbook_blocks
from renewbot.crypto import SecretBox
from renewbot.domain.kinds import resolve
from renewbot.errors import ImportFileError, RenewalRejected
from renewbot.runtime import commands
from renewbot.runtime.deps import Deps
from renewbot.usecases.importing import import_file
from renewbot.usecases.kinds import team_kinds
from renewbot.usecases.renewal import RenewalRequest, renew
from storage import queries
from storage.db import session_scope
from storage.models import Account, Kind, Notice, NoticeState, Renewal, Token
from tests.conftest import NOW

STRIPE = {"id": "stripe-restricted", "label": "Stripe restricted key",
          "pattern": "^rk_(live|test)_[A-Za-z0-9]{24,}$", "lifetime_days": 90, "notify_days": [14, 7, 3, 1],
          "steps": ["Roll the key in the Stripe dashboard for {app}.", "Paste it here."]}
GOOD_STRIPE_KEY = "rk_live_" + "A1b2" * 7


def inventory(expires: date = date(2026, 11, 29), **token_extra) -> dict:
    return {
        "kinds": [STRIPE],
        "accounts": [{"id": "amazon-uk", "name": "Amazon UK", "enabled": False, "fetch_orders": True}],
        "tokens": [
            {"id": "sp", "kind": "amazon-sp-api", "name": "EU SP-API", "expires_at": expires,
             "channel": "C0ALERTS", "owners": ["U0OWNER"], "accounts": ["amazon-uk"], **token_extra},
            {"id": "stripe", "kind": "stripe-restricted", "name": "Stripe key", "expires_at": date(2026, 12, 20),
             "channel": "C0ALERTS", "owners": ["U0OWNER"], "app_id": "shop"},
        ],
    }


def write(tmp_path: Path, data: dict, name: str = "inventory.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_import(engine, path: Path, **kw):
    with session_scope(engine) as session:
        return import_file(path, session=session, now=NOW, **kw)


def form(secret: str = "Atzr|new-refresh-token", expiry: str = "2027-09-22", reenable=frozenset({"amazon-uk"})):
    return read_renewal_form({
        ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"value": secret}},
        ids.EXPIRY_BLOCK: {ids.EXPIRY_INPUT: {"selected_date": expiry}},
        f"{ids.REENABLE_BLOCK_PREFIX}0": {ids.ACCOUNTS_INPUT: {"selected_options": [{"value": a} for a in reenable]}},
    })


def renew_sp(engine, fernet_key, **kw):
    return renew(engine=engine, box=SecretBox((fernet_key,)), may_act=lambda owners: True, now=NOW,
                 request=RenewalRequest(token_id=kw.pop("token_id", "sp"), version=kw.pop("version", 1),
                                        user_id="U0OWNER", form=form(**kw)))


def state(engine, token_id: str = "sp") -> tuple:
    with session_scope(engine) as s:
        tok, uk = s.get(Token, token_id), s.get(Account, "amazon-uk")
        return tok.expires_at, tok.version, uk.enabled, uk.fetch_orders


def test_a_renewal_survives_reimporting_the_file_it_came_from(engine, tmp_path, fernet_key):
    path = write(tmp_path, inventory())
    run_import(engine, path)
    assert state(engine)[0] == datetime(2026, 11, 29, tzinfo=UTC) and state(engine)[2] is False
    renew_sp(engine, fernet_key)
    renewed = state(engine)
    assert renewed[0] == datetime(2027, 9, 22, tzinfo=UTC) and renewed[2] is True
    report = run_import(engine, path)
    assert state(engine) == renewed  # expiry, version and the re-enabled account all kept
    assert any("kept the stored date" in line for line in report.changes)


def test_a_later_expiry_in_the_file_applies_and_restarts_the_notices(engine, tmp_path):
    run_import(engine, write(tmp_path, inventory()))
    with session_scope(engine) as s:
        s.add(Notice(token_id="sp", expires_at=datetime(2026, 11, 29, tzinfo=UTC), stage="3d",
                     state=NoticeState.SENT, channel="C0ALERTS", ts="1.0", root_ts="1.0", created_at=NOW))
    run_import(engine, write(tmp_path, inventory(date(2027, 11, 29)), "later.yml"))
    expires, version, *_ = state(engine)
    assert expires == datetime(2027, 11, 29, tzinfo=UTC) and version == 2
    with session_scope(engine) as s:
        assert s.exec(select(Notice.state)).all() == [NoticeState.SUPERSEDED]
        assert s.get(Token, "sp").notify_from == datetime(2027, 10, 30, tzinfo=UTC)


def test_force_expiry_lets_an_earlier_file_date_win(engine, tmp_path, fernet_key):
    path = write(tmp_path, inventory())
    run_import(engine, path)
    renew_sp(engine, fernet_key)
    run_import(engine, path, force_expiry=True)
    assert state(engine)[:2] == (datetime(2026, 11, 29, tzinfo=UTC), 3)


def test_account_switches_come_from_the_file_only_when_the_account_is_created(engine, tmp_path):
    run_import(engine, write(tmp_path, inventory()))
    data = inventory()
    data["accounts"][0].update(enabled=True, fetch_orders=False, name="Amazon United Kingdom")
    report = run_import(engine, write(tmp_path, data, "flags.yml"))
    with session_scope(engine) as s:
        uk = s.get(Account, "amazon-uk")
        assert (uk.name, uk.enabled, uk.fetch_orders) == ("Amazon United Kingdom", False, True)
    assert report.updated == ["account amazon-uk"]


def test_import_dry_run_prints_each_field_that_would_change_and_writes_nothing(engine, tmp_path, capsys):
    deps = Deps(engine=engine, box=SecretBox(()), clock=lambda: NOW)
    assert commands.cmd_import(str(write(tmp_path, inventory())), deps=deps) == 0
    data = inventory(date(2027, 1, 15))
    data["tokens"][0].update(name="EU SP-API (renamed)", owners=["U0OWNER", "S0TEAM"])
    capsys.readouterr()
    before = state(engine)
    assert commands.cmd_import(str(write(tmp_path, data, "next.yml")), deps=deps, dry_run=True) == 0
    out = capsys.readouterr().out
    assert "  token sp: name 'EU SP-API' -> 'EU SP-API (renamed)'" in out
    assert "  token sp: owners ['U0OWNER'] -> ['U0OWNER', 'S0TEAM']" in out
    assert "  token sp: expires_at 2026-11-29T00:00:00+00:00 -> 2027-01-15T00:00:00+00:00" in out
    assert "dry run, nothing was written (would be: 0 created, 1 updated, 3 unchanged)" in out
    assert state(engine) == before
    with session_scope(engine) as s:
        assert s.get(Token, "sp").name == "EU SP-API"


def test_retired_in_the_file_withdraws_the_token_and_false_brings_it_back(engine, tmp_path):
    run_import(engine, write(tmp_path, inventory()))
    run_import(engine, write(tmp_path, inventory(retired=True), "retired.yml"))
    with session_scope(engine) as s:
        assert s.get(Token, "sp").retired is True
        assert "sp" not in dict(queries.token_names(session=s))
    run_import(engine, write(tmp_path, inventory(retired=False), "back.yml"))
    with session_scope(engine) as s:
        assert "sp" in dict(queries.token_names(session=s))


# --- team-defined kinds ----------------------------------------------------------------------

def test_a_team_kind_works_end_to_end(engine, tmp_path, fernet_key):
    run_import(engine, write(tmp_path, inventory()))
    with session_scope(engine) as s:
        kind = resolve("stripe-restricted", team_kinds(session=s))
        token = s.get(Token, "stripe")
        # Its own ladder: the first notice is due 14 days out, not renewbot's default 30.
        assert token.notify_from == datetime(2026, 12, 6, tzinfo=UTC)
    assert kind.label == "Stripe restricted key" and kind.lifetime_days == 90
    notice = notice_blocks(token, [], "14d", NOW, kind)
    assert "(Stripe restricted key) expires" in notice[1]["text"]["text"]
    steps = runbook_blocks(token, kind)[0]["text"]["text"]
    assert "1. Roll the key in the Stripe dashboard for app ID *shop*." in steps and "2. Paste it here." in steps
    modal = renew_modal(token=token, accounts=[], today=date(2026, 11, 26),
                        kind=kind)
    expiry = next(b for b in modal["blocks"] if b.get("block_id") == ids.EXPIRY_BLOCK)
    assert expiry["element"]["initial_date"] == "2027-02-24"  # today + 90 days
    with pytest.raises(RenewalRejected) as caught:
        renew_sp(engine, fernet_key, token_id="stripe", secret="sk_live_not-a-restricted-key", expiry="2027-02-24")
    assert caught.value.errors == {
        "secret": "That does not look like a Stripe restricted key: check you copied all of it."}
    outcome = renew_sp(engine, fernet_key, token_id="stripe", secret=GOOD_STRIPE_KEY, expiry="2027-02-24",
                       reenable=frozenset())
    assert outcome.new_expiry == datetime(2027, 2, 24, tzinfo=UTC)
    with session_scope(engine) as s:
        assert s.get(Token, "stripe").notify_from == datetime(2027, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize("kind, problem", [
    ({**STRIPE, "pattern": "^rk_(live"}, "pattern is not a valid regular expression"),
    ({**STRIPE, "id": "amazon-sp-api"}, "'amazon-sp-api' is a built-in kind"),
    ({**STRIPE, "lifetime_days": 0}, "lifetime_days must be a whole number of days between 1 and 3650"),
    ({**STRIPE, "steps": []}, "steps must be a list of 1 to 20 texts"),
    ({**STRIPE, "colour": "red"}, "unknown field 'colour'"),
])
def test_a_bad_kind_is_refused_with_its_line_and_nothing_is_written(engine, tmp_path, kind, problem):
    data = inventory()
    data["kinds"] = [kind]
    data["tokens"] = data["tokens"][:1]
    with pytest.raises(ImportFileError) as caught:
        run_import(engine, write(tmp_path, data))
    assert any(problem in p and "line 2" in p for p in caught.value.problems), caught.value.problems
    with session_scope(engine) as s:
        assert s.exec(select(Kind)).all() == [] and s.exec(select(Token)).all() == []


def test_a_duplicate_kind_and_an_unknown_kind_are_refused(engine, tmp_path):
    data = inventory()
    data["kinds"] = [STRIPE, STRIPE]
    data["tokens"][0]["kind"] = "no-such-kind"
    with pytest.raises(ImportFileError) as caught:
        run_import(engine, write(tmp_path, data))
    problems = " | ".join(caught.value.problems)
    assert "duplicate kind id 'stripe-restricted'" in problems
    assert "unknown kind 'no-such-kind'" in problems and "define it under kinds:" in problems


def test_a_kind_defined_by_an_earlier_import_can_be_used_later(engine, tmp_path):
    run_import(engine, write(tmp_path, inventory()))
    later = {"tokens": [{"id": "stripe-2", "kind": "stripe-restricted", "name": "Second key",
                         "expires_at": date(2027, 3, 1), "channel": "C0ALERTS"}]}
    run_import(engine, write(tmp_path, later, "later.yml"))
    with session_scope(engine) as s:
        assert s.get(Token, "stripe-2").kind == "stripe-restricted"
        assert s.exec(select(Renewal)).all() == []


def test_owners_star_is_accepted_quoted_and_other_words_are_refused(engine, tmp_path):
    data = inventory(owners=["*"])
    run_import(engine, write(tmp_path, data))
    with session_scope(engine) as s:
        assert s.get(Token, "sp").owners == ["*"]
    data = inventory(owners=["everyone"])
    with pytest.raises(ImportFileError) as caught:
        run_import(engine, write(tmp_path, data, "bad.yml"))
    assert 'or "*" for every full member of the workspace' in caught.value.problems[0]
