"""A secret from outside Slack: start() stores the form's choices, complete() applies them in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from renewbot.crypto import SecretBox
from renewbot.domain.validation import RenewalForm
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.usecases import audit, outside_renewal, pending
from renewbot.usecases.outside_renewal import NotAllowed
from renewbot.usecases.pending import PendingRefused
from renewbot.usecases.renewal import RenewalRequest
from storage.db import session_scope
from storage.models import Account, Delivery, PendingRenewal, Renewal, Token
from tests.conftest import NOW
from tests.jobs.test_connect import inventory, renew_now

SECRET = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
TOKEN = "amazon-eu-mws"


@pytest.fixture
def box(fernet_key) -> SecretBox:
    return SecretBox((fernet_key,))


@pytest.fixture
def world(engine):
    inventory(engine)  # amazon-uk (disabled), amazon-de (disabled, no fetch); connector commerce-eu; U0OWNER
    return engine


def owners_only(owners) -> bool:
    return "U0OWNER" in owners


def start(engine, *, form=None, user="U0OWNER", may_act=owners_only, kind=pending.PAGE):
    form = form or RenewalForm(expiry="2027-11-26", reenable={0: frozenset({"amazon-uk"})},
                               no_fetch={0: frozenset({"amazon-de"})})
    return outside_renewal.start(engine=engine, kind=kind, now=NOW, may_act=may_act,
                                 request=RenewalRequest(token_id=TOKEN, version=1, user_id=user, form=form))


def complete(engine, box, key, *, secret=SECRET, expiry=None, now=NOW, may_act=None, kind=pending.PAGE):
    return outside_renewal.complete(
        engine=engine, box=box, pending_key=key, kind=kind, secret=secret, expiry_override=expiry, now=now,
        may_act=may_act or (lambda user, token_id, owners: user in owners), verifier=None, via=kind)


def state(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, TOKEN)
        return (tok.version, tok.expires_at, tok.secret_encrypted,
                tuple((a.id, a.enabled, a.fetch_orders) for a in s.exec(select(Account).order_by(Account.id))),
                len(s.exec(select(Renewal)).all()), len(s.exec(select(Delivery)).all()),
                tuple(p.used_at for p in s.exec(select(PendingRenewal))))


def test_start_stores_the_choices_and_no_secret(world):
    started = start(world)
    assert started.token_name == "Amazon EU MWS token" and started.kind.id == "amazon-mws"
    choices = started.pending.choices
    assert (choices.expiry.isoformat(), choices.reenable, choices.no_fetch) == (
        "2027-11-26", {"amazon-uk"}, {"amazon-de"})
    assert started.pending.user_id == "U0OWNER" and started.pending.token_version == 1


def test_start_validates_the_rest_and_refuses_non_owners(world):
    with pytest.raises(RenewalRejected) as caught:
        start(world, form=RenewalForm(expiry="2020-01-01"))
    assert set(caught.value.errors) == {"expiry"}
    with pytest.raises(NotAllowed):
        start(world, user="U0OTHER", may_act=lambda owners: False)
    with session_scope(world) as s:
        assert s.exec(select(PendingRenewal)).all() == []


def test_complete_applies_one_transaction_with_delivery_and_audit_via(world, box):
    key = start(world).key
    outcome = complete(world, box, key)
    assert outcome.via == "page" and outcome.renewed_by == "U0OWNER"
    assert outcome.new_expiry == datetime(2027, 11, 26, tzinfo=UTC) and outcome.delivery_id
    with session_scope(world) as s:
        tok = s.get(Token, TOKEN)
        assert box.decrypt(tok.secret_encrypted) == SECRET and SECRET not in tok.secret_encrypted
        assert {a.id: (a.enabled, a.fetch_orders) for a in s.exec(select(Account))} == {
            "amazon-uk": (True, True), "amazon-de": (False, False)}
        (renewal,) = s.exec(select(Renewal)).all()
        assert renewal.via == "page" and renewal.renewed_by == "U0OWNER"
        (entry,) = audit.collect(session=s)
        assert entry.by == "U0OWNER" and entry.to_json()["via"] == "page"  # a person, not a source seen outside
        assert [d.renewal_id for d in s.exec(select(Delivery))] == [renewal.id]
        assert [p.used_at for p in s.exec(select(PendingRenewal))] == [NOW]
    with pytest.raises(PendingRefused) as caught:
        complete(world, box, key)
    assert caught.value.reason == "used"


def test_a_bad_secret_changes_nothing_and_keeps_the_link(world, box):
    key = start(world).key
    before = state(world)
    with pytest.raises(RenewalRejected) as caught:
        complete(world, box, key, secret="not a token")
    assert set(caught.value.errors) == {"secret"} and state(world) == before
    complete(world, box, key)  # still usable


def test_the_page_date_overrides_the_forms(world, box):
    outcome = complete(world, box, start(world).key, expiry="2027-12-01")
    assert outcome.new_expiry == datetime(2027, 12, 1, tzinfo=UTC)


def test_ownership_is_checked_again_at_completion(world, box):
    key = start(world).key
    before = state(world)
    asked = []
    with pytest.raises(NotAllowed):
        complete(world, box, key, may_act=lambda user, token_id, owners: asked.append((user, token_id)) and False)
    assert asked == [("U0OWNER", TOKEN)] and state(world) == before


def test_expired_foreign_and_stale(world, box):
    key = start(world).key
    with pytest.raises(PendingRefused) as caught:
        complete(world, box, key, now=NOW + timedelta(minutes=11))
    assert caught.value.reason == "expired"
    with pytest.raises(PendingRefused) as caught:
        complete(world, box, key, kind=pending.AMAZON)
    assert caught.value.reason == "foreign"
    renew_now(world, box, "amzn.mws.00000000-0000-0000-0000-000000000000")  # someone renewed meanwhile
    before = state(world)
    with pytest.raises(StaleRenewal):
        complete(world, box, key, expiry="2028-01-01")
    assert state(world) == before  # the pending renewal was not consumed either


def test_two_completions_of_one_key_apply_once(world, box):
    key = start(world).key
    complete(world, box, key)
    with pytest.raises(PendingRefused):
        complete(world, box, key, secret="amzn.mws.11111111-1111-1111-1111-111111111111")
    with session_scope(world) as s:
        assert box.decrypt(s.get(Token, TOKEN).secret_encrypted) == SECRET
