"""Registering a token (`/renew-token add`'s use case): checks, one transaction, never an overwrite."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from renewbot.usecases import add_token as usecase
from renewbot.usecases.add_token import AddForm, AddRejected, add_token, check_form, suggest_id
from renewbot.usecases.importing import import_file
from storage import queries
from storage.db import session_scope
from storage.models import Account, Token, TokenAccount
from tests.conftest import NOW
from tests.support.seed import account, seed, token

FORM = AddForm(name="Amazon EU SP-API authorization", kind="amazon-sp-api", expiry="2027-06-01",
               channel="C0ALERTS", owner_users=("U0ANNA",), owner_groups=("S0OPS",), accounts=("amazon-uk",))


def snapshot(engine) -> list[tuple]:
    with session_scope(engine) as s:
        tokens = [(t.id, t.name, t.kind, t.expires_at, t.channel, tuple(t.owners), t.version)
                  for t in s.exec(select(Token).order_by(Token.id)).all()]
        links = [(link.token_id, link.account_id) for link in s.exec(select(TokenAccount)).all()]
    return tokens + links


@pytest.fixture
def world(engine):
    seed(engine, now=NOW, accounts=[account("amazon-uk"), account("amazon-de"), account("old")],
         tokens=[token("existing", NOW + timedelta(days=50), name="Existing token")])
    with session_scope(engine) as s:
        s.get(Account, "old").retired = True
    return engine


def test_a_valid_form_creates_the_token_with_its_links(world):
    outcome = add_token(engine=world, form=FORM, now=NOW, adder="U0ADDER")
    assert outcome.token_id == "amazon-eu-sp-api-authorization"
    with session_scope(world) as s:
        tok = s.get(Token, outcome.token_id)
        assert (tok.name, tok.kind, tok.channel) == ("Amazon EU SP-API authorization", "amazon-sp-api", "C0ALERTS")
        assert tok.expires_at == datetime(2027, 6, 1, tzinfo=UTC)
        assert tok.owners == ["U0ANNA", "U0ADDER", "S0OPS"]
        assert tok.secret_encrypted is None and tok.version == 1 and tok.retired is False
        assert queries.account_ids_of(session=s, token_id=tok.id) == ["amazon-uk"]
    assert outcome.first_threshold_days == 30
    assert outcome.notify_from == datetime(2027, 5, 2, tzinfo=UTC)


def test_notify_from_is_what_an_import_of_the_same_token_gives(engine):
    """A team kind's own ladder counts, as in the import (not a second formula)."""
    path = Path(tempfile.gettempdir()) / f"renewbot-add-{id(engine)}.yml"
    path.write_text(yaml.safe_dump({
        "kinds": [{"id": "stripe", "label": "Stripe key", "notify_days": [10, 5],
                   "steps": ["Roll it."]}],
        "tokens": [{"id": "imported", "kind": "stripe", "name": "Imported", "expires_at": "2027-06-01",
                    "channel": "C0ALERTS"}]}))
    try:
        with session_scope(engine) as s:
            import_file(path, session=s, now=NOW)
    finally:
        path.unlink(missing_ok=True)
    outcome = add_token(engine=engine, form=replace(FORM, kind="stripe", accounts=()), now=NOW)
    with session_scope(engine) as s:
        imported = s.get(Token, "imported").notify_from
        added = s.get(Token, outcome.token_id).notify_from
    assert added == imported == datetime(2027, 5, 22, tzinfo=UTC)
    assert outcome.first_threshold_days == 10


def test_an_existing_id_is_refused_and_left_alone(world):
    before = snapshot(world)
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, token_id="existing", name="Another"), now=NOW)
    assert set(caught.value.errors) == {usecase.ID}
    assert "`existing` already exists" in caught.value.errors[usecase.ID]
    assert snapshot(world) == before


def test_an_id_made_from_the_name_that_exists_says_so(world):
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, name="Existing!", token_id=None), now=NOW)
    assert "(made from the name) already exists" in caught.value.errors[usecase.ID]


def test_a_racing_insert_of_the_same_id_is_reported_as_existing(world, monkeypatch):
    """Another add inserted the id after our check: the primary key refuses, and the person is told so."""
    real, calls = usecase.queries.get_token, []

    def missed_once(*, session, token_id):
        calls.append(token_id)
        return None if len(calls) == 1 else real(session=session, token_id=token_id)
    monkeypatch.setattr(usecase.queries, "get_token", missed_once)
    before = snapshot(world)
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, token_id="existing", name="Another"), now=NOW)
    assert "already exists" in caught.value.errors[usecase.ID]
    assert snapshot(world) == before and len(calls) == 2


def test_every_problem_is_reported_at_once_and_nothing_is_written(world):
    before = snapshot(world)
    form = AddForm(name="  ", token_id="bad id!", kind="no-such-kind", marketplace="xx", expiry=NOW.date().isoformat(),
                   channel="D0DIRECT", owner_users=("S0NOTAUSER",), owner_groups=("U0NOTAGROUP",),
                   accounts=("old", "nope"))
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=form, now=NOW)
    errors = caught.value.errors
    assert set(errors) == {usecase.NAME, usecase.ID, usecase.KIND, usecase.MARKETPLACE, usecase.EXPIRY,
                           usecase.CHANNEL, usecase.OWNERS, usecase.GROUPS, usecase.ACCOUNTS}
    assert "in the future" in errors[usecase.EXPIRY]
    assert snapshot(world) == before


def test_retired_or_unknown_accounts_are_named(world):
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, accounts=("amazon-uk", "old", "nope")), now=NOW)
    assert caught.value.errors == {usecase.ACCOUNTS: "Unknown or retired: `old`, `nope`. Pick accounts from the list."}


def test_a_name_another_token_has_is_refused(world):
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, name="EXISTING token", token_id="fresh"), now=NOW)
    assert "`existing` already has this name" in caught.value.errors[usecase.NAME]


def test_what_slack_said_about_the_channel_is_reported_with_the_rest(world):
    before = snapshot(world)
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, expiry=None), now=NOW, channel_problem="invite me")
    assert caught.value.errors[usecase.CHANNEL] == "invite me" and usecase.EXPIRY in caught.value.errors
    assert snapshot(world) == before


def test_no_owners_and_no_adder_leaves_owners_empty(world):
    outcome = add_token(engine=world, form=replace(FORM, owner_users=(), owner_groups=()), now=NOW)
    assert outcome.owners == ()
    with session_scope(world) as s:
        assert s.get(Token, outcome.token_id).owners == []


@pytest.mark.parametrize("name,slug", [
    ("Amazon EU SP-API authorization", "amazon-eu-sp-api-authorization"),
    ("  Stripe   key (live) ", "stripe-key-live"),
    ("Ünïcode only ✓", "n-code-only"),
    ("!!!", ""),
    (None, ""),
    ("x" * 400, "x" * 150),
])
def test_suggested_ids(name, slug):
    assert suggest_id(name) == slug


def test_check_form_takes_a_typed_id_over_the_name():
    checked, errors = check_form(replace(FORM, token_id="eu-sp"), today=NOW.date())
    assert errors == {} and checked.token_id == "eu-sp"


def test_the_adder_is_not_listed_twice():
    checked, _ = check_form(replace(FORM, owner_users=("U0ADDER", "U0ADDER")), today=NOW.date(), adder="U0ADDER")
    assert checked.owners == ("U0ADDER", "S0OPS")


# --- ids and names share `/renew-token`'s namespace (find_token tries an id before a name) ---------------

def test_an_id_equal_to_another_tokens_name_is_refused_in_any_case(world):
    """`/renew-token existing-token` finds the token named "Existing token" by name only while no id is that."""
    seed(world, now=NOW, tokens=[token("other", NOW + timedelta(days=50), name="Existing-Token")])
    before = snapshot(world)
    for typed in ("existing-token", "EXISTING-TOKEN"):
        with pytest.raises(AddRejected) as caught:
            add_token(engine=world, form=replace(FORM, token_id=typed, name="Fresh"), now=NOW)
        assert caught.value.errors == {usecase.ID: f"`{typed}` is the name of the token `other`: as an id it would "
                                                   f"hide that token from `/renew-token {typed}`. Type another id."}
    with pytest.raises(AddRejected) as caught:  # the id made from the name counts the same
        add_token(engine=world, form=replace(FORM, token_id=None, name="existing token!"), now=NOW)
    assert "is the name of the token `other`" in caught.value.errors[usecase.ID]
    assert snapshot(world) == before


def test_a_name_equal_to_another_tokens_id_is_refused(world):
    before = snapshot(world)
    with pytest.raises(AddRejected) as caught:
        add_token(engine=world, form=replace(FORM, token_id="fresh", name="EXISTING"), now=NOW)
    assert caught.value.errors == {usecase.NAME: "`existing` is another token's id, so `/renew-token existing` "
                                                 "would open that token, not this one. Pick another name."}
    assert snapshot(world) == before


def test_a_retired_tokens_name_and_id_do_not_block_a_new_token(world):
    """find_token skips retired tokens, so they hide nothing (their ids stay taken: add never overwrites)."""
    with session_scope(world) as s:
        s.get(Token, "existing").retired = True
    outcome = add_token(engine=world, form=replace(FORM, token_id="existing-token", name="existing"), now=NOW)
    assert (outcome.token_id, outcome.name) == ("existing-token", "existing")


def test_a_new_token_may_be_named_as_its_own_id(world):
    outcome = add_token(engine=world, form=replace(FORM, token_id="stripe-live", name="stripe-live"), now=NOW)
    assert outcome.token_id == "stripe-live"


def test_the_ladder_is_the_scans_when_a_team_kind_shares_a_built_in_id(world):
    """A kind row stored before its id became built-in: the scan (kinds.ladders) uses the team's ladder, so does add."""
    from renewbot.usecases.kinds import ladders
    from storage.models import Kind as KindRow
    with session_scope(world) as s:
        s.add(KindRow(id="amazon-lwa-client-secret", label="Our LWA secret", steps=["Rotate it."],
                      notify_days=[45, 10]))
    with session_scope(world) as s:
        assert ladders(session=s)["amazon-lwa-client-secret"] == (45, 10)
    outcome = add_token(engine=world, form=replace(FORM, kind="amazon-lwa-client-secret", accounts=()), now=NOW)
    assert outcome.first_threshold_days == 45
    assert outcome.notify_from == datetime(2027, 6, 1, tzinfo=UTC) - timedelta(days=45)
