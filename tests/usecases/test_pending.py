"""Pending renewals: keys stored hashed, bound to a person and a flow, valid for a while, consumed once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from renewbot.usecases import pending
from renewbot.usecases.pending import Choices, PendingRefused
from storage.db import session_scope
from storage.models import PendingRenewal
from tests.conftest import NOW

CHOICES = Choices(expiry=date(2027, 11, 26), reenable=frozenset({"uk"}), no_fetch=frozenset({"de"}),
                  accounts=frozenset({"uk", "de"}))


def make(engine, kind=pending.PAGE, **kw):
    with session_scope(engine) as s:
        return pending.create(session=s, kind=kind, token_id="mws", token_version=1, user_id="U0OWNER",
                              choices=CHOICES, now=NOW, **kw)


def refusal(engine, key, *, kind=pending.PAGE, now=NOW, user_id=None, consume=False) -> str:
    with pytest.raises(PendingRefused) as caught, session_scope(engine) as s:
        (pending.consume if consume else pending.peek)(session=s, key=key, kind=kind, now=now, user_id=user_id)
    return caught.value.reason


def test_the_key_is_random_long_and_stored_only_as_its_hash(engine):
    key, row = make(engine)
    other, _ = make(engine)
    assert key != other and len(key) >= 43  # 32 random bytes, url-safe base64
    with session_scope(engine) as s:
        stored = s.exec(select(PendingRenewal)).all()
    assert [r.key_hash for r in stored] == [pending.key_hash(key), pending.key_hash(other)]
    assert all(key not in repr(r.model_dump()) for r in stored)
    assert row.expires_at == NOW + pending.PAGE_TTL and row.user_id == "U0OWNER" and row.choices == CHOICES


def test_amazon_state_lives_15_minutes_and_the_page_10(engine):
    _, page = make(engine)
    _, amazon = make(engine, kind=pending.AMAZON)
    assert (page.expires_at - NOW, amazon.expires_at - NOW) == (timedelta(minutes=10), timedelta(minutes=15))


def test_peek_does_not_consume_and_consume_works_once(engine):
    key, row = make(engine)
    with session_scope(engine) as s:
        assert pending.peek(session=s, key=key, kind=pending.PAGE, now=NOW).id == row.id
    with session_scope(engine) as s:
        assert pending.consume(session=s, key=key, kind=pending.PAGE, now=NOW).id == row.id
    assert refusal(engine, key) == "used"
    assert refusal(engine, key, consume=True) == "used"


def test_a_rolled_back_consumption_leaves_the_key_usable(engine):
    key, _ = make(engine)
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        pending.consume(session=s, key=key, kind=pending.PAGE, now=NOW)
        raise RuntimeError("the renewal failed")
    with session_scope(engine) as s:
        pending.peek(session=s, key=key, kind=pending.PAGE, now=NOW)


def test_unknown_forged_expired_foreign(engine):
    key, _ = make(engine)
    assert refusal(engine, "forged" + key[6:]) == "unknown"
    assert refusal(engine, None) == "unknown" and refusal(engine, "x" * 5000) == "unknown"
    assert refusal(engine, key, now=NOW + timedelta(minutes=10)) == "expired"
    assert refusal(engine, key, kind=pending.AMAZON) == "foreign"
    assert refusal(engine, key, user_id="U0OTHER") == "foreign"


def test_form_token_is_per_row_and_checked_in_constant_time(engine):
    _, one = make(engine)
    _, two = make(engine)
    assert pending.form_token_ok(one, pending.form_token(one))
    assert not pending.form_token_ok(one, pending.form_token(two))
    assert not pending.form_token_ok(one, None) and not pending.form_token_ok(one, "") \
        and not pending.form_token_ok(one, "é" * 64)


def test_choices_round_trip_and_tolerate_junk():
    assert Choices.load(CHOICES.dump()) == CHOICES
    assert Choices.load({"expiry": None, "reenable": "uk", "no_fetch": [1, "de"]}) == Choices(
        no_fetch=frozenset({"de"}))


def test_rows_a_day_past_their_expiry_are_pruned_as_new_ones_are_made(engine):
    old, _ = make(engine)
    with session_scope(engine) as s:
        pending.create(session=s, kind=pending.PAGE, token_id="mws", token_version=1, user_id="U0OWNER",
                       choices=CHOICES, now=NOW + pending.PAGE_TTL + pending.KEEP_AFTER_EXPIRY + timedelta(seconds=1))
        assert len(s.exec(select(PendingRenewal)).all()) == 1
    assert refusal(engine, old) == "unknown"


def test_a_claim_is_held_across_replicas_until_it_lapses_or_is_released(engine):
    _, row = make(engine, kind=pending.AMAZON)
    with session_scope(engine) as s:  # replica one claims, and commits
        assert pending.claim(session=s, pending=row, now=NOW)
    with session_scope(engine) as s:  # replica two, its own session: refused while the claim holds
        assert not pending.claim(session=s, pending=row, now=NOW + pending.CLAIM - timedelta(seconds=1))
    with session_scope(engine) as s:  # a lapsed claim (a replica died mid-exchange) can be taken over
        assert pending.claim(session=s, pending=row, now=NOW + pending.CLAIM + timedelta(seconds=1))
    with session_scope(engine) as s:
        pending.release(session=s, pending=row)
    with session_scope(engine) as s:
        assert pending.claim(session=s, pending=row, now=NOW)
        assert pending.CLAIM.total_seconds() > 8  # longer than the exchange's deadline


def test_a_used_row_cannot_be_claimed(engine):
    key, row = make(engine, kind=pending.AMAZON)
    with session_scope(engine) as s:
        pending.consume(session=s, key=key, kind=pending.AMAZON, now=NOW)
    with session_scope(engine) as s:
        assert not pending.claim(session=s, pending=row, now=NOW)
