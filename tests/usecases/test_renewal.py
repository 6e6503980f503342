"""The renewal use case, called directly: no Slack, no HTTP. What it stores, what it refuses, in which order."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from renewbot.crypto import SecretBox
from renewbot.domain.validation import RenewalForm, Submission
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.usecases.renewal import RenewalRequest, apply_renewal, renew
from storage import notices
from storage.db import session_scope
from storage.models import Account, Notice, NoticeState, Renewal, Token
from tests.conftest import NOW
from tests.support.seed import account, seed, token

SECRET = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
NEW_EXPIRY = datetime(2027, 11, 26, tzinfo=UTC)


@pytest.fixture
def box(fernet_key) -> SecretBox:
    return SecretBox((fernet_key,))


@pytest.fixture
def world(engine):
    seed(engine, now=NOW, accounts=[account("uk", enabled=False), account("de", enabled=False, fetch_orders=False),
                                    account("fr", enabled=True)],
         tokens=[token("mws", NOW + timedelta(days=3), accounts=["uk", "de", "fr"], owners=["U0OWNER"],
                       notify_days=[30, 3])])
    return engine


def submission(**kw) -> Submission:
    values = dict(token_id="mws", version=1, secret=SECRET, new_expiry=NEW_EXPIRY,
                  reenable=frozenset({"uk", "de"}), no_fetch=frozenset({"de"}))
    values.update(kw)
    return Submission(**values)


def snapshot(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, "mws")
        accounts = tuple((a.id, a.enabled, a.fetch_orders) for a in s.exec(select(Account).order_by(Account.id)))
        states = tuple(n.state for n in s.exec(select(Notice).order_by(Notice.id)))
        return (tok.expires_at, tok.notify_from, tok.secret_encrypted, tok.version, accounts, states,
                len(s.exec(select(Renewal)).all()))


def test_apply_stores_the_secret_encrypted_moves_expiry_and_its_first_notice_moment(world, box):
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        assert tok.secret_encrypted != SECRET and box.decrypt(tok.secret_encrypted) == SECRET
        assert tok.expires_at == NEW_EXPIRY
        assert tok.notify_from == NEW_EXPIRY - timedelta(days=30)  # this token's own ladder, not the default
        assert tok.version == 2
    assert (outcome.old_expiry, outcome.new_expiry) == (NOW + timedelta(days=3), NEW_EXPIRY)
    assert (outcome.token_id, outcome.token_name, outcome.channel, outcome.renewed_by) == (
        "mws", "Token mws", "C0ALERTS", "U0OWNER")


def test_apply_sets_each_accounts_flags_as_chosen_including_a_changed_fetch_orders_choice(world, box):
    # uk: re-enabled, keeps fetching; de: re-enabled, was "don't fetch", now fetches (unticked);
    # fr: not ticked for re-enabling (stays as it was: enabled), now "don't fetch".
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, user_id="U0OWNER", now=NOW,
                                submission=submission(reenable=frozenset({"uk", "de"}), no_fetch=frozenset({"fr"})))
    with session_scope(world) as s:
        flags = {a.id: (a.enabled, a.fetch_orders) for a in s.exec(select(Account))}
    assert flags == {"uk": (True, True), "de": (True, True), "fr": (True, False)}
    assert outcome.accounts == [
        dict(id="uk", name="Uk", reenabled=True, enabled=True, fetch_orders=True),
        dict(id="de", name="De", reenabled=True, enabled=True, fetch_orders=True),
        dict(id="fr", name="Fr", reenabled=False, enabled=True, fetch_orders=False),
    ]


def test_an_account_not_ticked_stays_disabled(world, box):
    with session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(reenable=frozenset()), user_id="U0OWNER", now=NOW)
    with session_scope(world) as s:
        assert s.get(Account, "uk").enabled is False and s.get(Account, "de").enabled is False


def test_apply_closes_open_notices_and_writes_one_audit_row(world, box):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        for stage in ("30d", "3d"):
            notices.insert_notice_if_absent(session=s, token=tok, stage=stage, now=NOW)
    with session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    with session_scope(world) as s:
        assert {n.state for n in s.exec(select(Notice))} == {NoticeState.CLOSED}
        (row,) = s.exec(select(Renewal)).all()
        assert (row.token_id, row.renewed_by, row.renewed_at) == ("mws", "U0OWNER", NOW)
        assert (row.old_expires_at, row.new_expires_at) == (NOW + timedelta(days=3), NEW_EXPIRY)
        assert [a["id"] for a in row.accounts] == ["uk", "de", "fr"]


def test_the_thread_answered_is_the_current_expirys_first_notice_with_a_message(world, box):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        # An older expiry's notice (still open after an odd import), one not yet posted, one posted.
        s.add(Notice(token_id="mws", expires_at=tok.expires_at - timedelta(days=9), stage="30d",
                     state=NoticeState.SENT, channel="C0OLD", ts="1.0", root_ts="1.0", created_at=NOW))
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="30d", state=NoticeState.PENDING,
                     channel="C0ALERTS", created_at=NOW))
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="3d", state=NoticeState.SENT,
                     channel="C0ALERTS", ts="2.0", root_ts="2.0", created_at=NOW))
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    assert outcome.thread == ("C0ALERTS", "2.0")


def test_no_open_notice_means_no_thread(world, box):
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    assert outcome.thread is None


def test_a_stale_version_is_refused_and_changes_nothing(world, box):
    before = snapshot(world)
    with pytest.raises(StaleRenewal) as caught, session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(version=0), user_id="U0OWNER", now=NOW)
    assert caught.value.token_name == "Token mws"
    assert snapshot(world) == before


def test_a_doubled_submission_applies_once(world, box):
    with session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    with pytest.raises(StaleRenewal), session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    with session_scope(world) as s:
        assert len(s.exec(select(Renewal)).all()) == 1


# --- renew(): the whole use case ----------------------------------------------------------

def form(**kw) -> RenewalForm:
    values = dict(secret=f"  {SECRET}\n", expiry="2027-11-26", reenable={0: frozenset({"uk", "de", "fr"})},
                  no_fetch={0: frozenset({"de"})})
    values.update(kw)
    return RenewalForm(**values)


def request(**kw) -> RenewalRequest:
    values = dict(token_id="mws", version=1, user_id="U0OWNER", form=form())
    values.update(kw)
    return RenewalRequest(**values)


def test_renew_asks_who_may_act_with_the_owners_before_any_transaction_is_open(world, box):
    asked = []

    def may_act(owners):
        # The Slack call behind this must never hold a database connection (let alone a transaction).
        asked.append((list(owners), world.pool.checkedout()))
        return True

    outcome = renew(engine=world, box=box, request=request(), may_act=may_act, now=NOW)
    assert asked == [(["U0OWNER"], 0)]
    assert outcome.new_expiry == NEW_EXPIRY
    with session_scope(world) as s:
        assert box.decrypt(s.get(Token, "mws").secret_encrypted) == SECRET  # pasting whitespace stripped


def test_renew_refuses_a_person_who_is_not_an_owner_and_changes_nothing(world, box):
    before = snapshot(world)
    with pytest.raises(RenewalRejected) as caught:
        renew(engine=world, box=box, request=request(user_id="U0STRANGER"), may_act=lambda owners: False, now=NOW)
    assert caught.value.errors == {"token": "Only this token's owners can renew it."}
    assert snapshot(world) == before


def test_renew_refuses_a_token_that_no_longer_exists(world, box):
    with pytest.raises(RenewalRejected) as caught:
        renew(engine=world, box=box, request=request(token_id="gone"), may_act=lambda owners: True, now=NOW)
    assert caught.value.errors == {"token": "This token no longer exists."}


def test_renew_reports_every_bad_field_at_once_and_changes_nothing(world, box):
    before = snapshot(world)
    bad = form(secret="not-a-token", expiry="2026-11-01", reenable={0: None})
    with pytest.raises(RenewalRejected) as caught:
        renew(engine=world, box=box, request=request(form=bad), may_act=lambda owners: True, now=NOW)
    assert set(caught.value.errors) == {"secret", "expiry", "reenable:0"}
    assert caught.value.errors["expiry"] == "The new expiry must be in the future."
    assert caught.value.errors["reenable:0"] == "These boxes could not be read: tick them again."
    assert snapshot(world) == before


def test_renew_refuses_when_the_owners_changed_after_the_check(world, box):
    before = snapshot(world)

    def may_act(owners):
        with session_scope(world) as s:  # an import lands between the check and the transaction
            s.get(Token, "mws").owners = ["U0SOMEONE"]
        return True

    with pytest.raises(StaleRenewal):
        renew(engine=world, box=box, request=request(), may_act=may_act, now=NOW)
    after = snapshot(world)
    assert after[2:] == before[2:]  # no secret, no version bump, no audit row


def test_renew_keeps_only_ticks_for_accounts_the_token_serves(world, box):
    sneaky = form(reenable={0: frozenset({"uk", "not-ours"})}, no_fetch={0: frozenset({"elsewhere"})})
    outcome = renew(engine=world, box=box, request=request(form=sneaky), may_act=lambda owners: True, now=NOW)
    assert [a["id"] for a in outcome.accounts if a["reenabled"]] == ["uk"]
    with session_scope(world) as s:
        assert s.get(Account, "not-ours") is None


# --- pinned by mutation testing (docs/mutation.md) ------------------------------------------------

def test_with_several_posted_notices_for_the_current_expiry_the_first_thread_is_answered(world, box):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="30d", state=NoticeState.SENT,
                     channel="C0ALERTS", ts="2.0", root_ts="2.0", created_at=NOW))
        s.add(Notice(token_id="mws", expires_at=tok.expires_at, stage="3d", state=NoticeState.SENT,
                     channel="C0OTHER", ts="3.0", root_ts="3.0", created_at=NOW))
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    assert outcome.thread == ("C0ALERTS", "2.0")


def test_an_older_expirys_posted_notice_is_never_the_thread(world, box):
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        s.add(Notice(token_id="mws", expires_at=tok.expires_at - timedelta(days=9), stage="30d",
                     state=NoticeState.SENT, channel="C0OLD", ts="1.0", root_ts="1.0", created_at=NOW))
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, submission=submission(), user_id="U0OWNER", now=NOW)
    assert outcome.thread is None


def test_a_changed_dont_fetch_choice_is_saved_both_ways(world, box):
    # de starts as "don't fetch", uk and fr fetch: flip all three.
    with session_scope(world) as s:
        outcome = apply_renewal(session=s, box=box, user_id="U0OWNER", now=NOW,
                                submission=submission(reenable=frozenset(), no_fetch=frozenset({"uk", "fr"})))
    with session_scope(world) as s:
        assert {a.id: a.fetch_orders for a in s.exec(select(Account))} == {"uk": False, "de": True, "fr": False}
        (row,) = s.exec(select(Renewal)).all()
        assert [(a["id"], a["fetch_orders"]) for a in row.accounts] == [("uk", False), ("de", True), ("fr", False)]
    assert [(a["id"], a["reenabled"], a["enabled"]) for a in outcome.accounts] == [
        ("uk", False, False), ("de", False, False), ("fr", False, True)]


def test_renew_saves_the_dont_fetch_choice_end_to_end(world, box):
    chosen = form(reenable={0: frozenset()}, no_fetch={0: frozenset({"uk"})})
    renew(engine=world, box=box, request=request(form=chosen), may_act=lambda owners: True, now=NOW)
    with session_scope(world) as s:
        assert {a.id: (a.enabled, a.fetch_orders) for a in s.exec(select(Account))} == {
            "uk": (False, False), "de": (False, True), "fr": (True, True)}


def test_renew_refuses_a_token_deleted_after_the_owner_check(world, box):
    def may_act(owners):
        with session_scope(world) as s:  # the token is removed between the check and the transaction
            tok = s.get(Token, "mws")
            for n in s.exec(select(Notice).where(Notice.token_id == "mws")):
                s.delete(n)
            s.delete(tok)
        return True

    with pytest.raises(RenewalRejected) as caught:
        renew(engine=world, box=box, request=request(), may_act=may_act, now=NOW)
    assert caught.value.errors == {"token": "This token no longer exists."}


def test_apply_refuses_a_token_that_no_longer_exists(world, box):
    with pytest.raises(RenewalRejected) as caught, session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(token_id="gone"), user_id="U0OWNER", now=NOW)
    assert caught.value.errors == {"token": "This token no longer exists."}


def test_stale_renewal_messages_name_the_token_and_the_reason(world, box):
    with pytest.raises(StaleRenewal) as caught, session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(version=7), user_id="U0OWNER", now=NOW)
    assert str(caught.value) == "token mws changed since the form was opened"

    def may_act(owners):
        with session_scope(world) as s:
            s.get(Token, "mws").owners = ["U0SOMEONE"]
        return True

    with pytest.raises(StaleRenewal) as caught:
        renew(engine=world, box=box, request=request(), may_act=may_act, now=NOW)
    assert str(caught.value) == "token mws's owners changed since the form was submitted"
    assert caught.value.token_name == "Token mws"


def test_renew_passes_the_version_the_form_showed(world, box):
    with pytest.raises(StaleRenewal):
        renew(engine=world, box=box, request=request(version=2), may_act=lambda owners: True, now=NOW)
    outcome = renew(engine=world, box=box, request=request(version=1), may_act=lambda owners: True, now=NOW)
    assert outcome.renewed_by == "U0OWNER" and outcome.old_expiry == NOW + timedelta(days=3)
    assert outcome.thread is None and outcome.token_name == "Token mws"


def test_renew_does_not_ask_slack_about_a_token_that_no_longer_exists(world, box):
    asked = []
    with pytest.raises(RenewalRejected) as caught:
        renew(engine=world, box=box, request=request(token_id="gone"), may_act=lambda o: asked.append(o) or True,
              now=NOW)
    assert caught.value.errors == {"token": "This token no longer exists."}
    assert asked == []  # no owners to check, so no Slack call


def test_a_submission_blocked_by_a_held_lock_fails_fast_and_changes_nothing(world, box):
    before = snapshot(world)
    blocker = world.connect()
    if world.dialect.name == "sqlite":
        blocker.exec_driver_sql("BEGIN IMMEDIATE")  # another writer holds SQLite's one write lock
    else:
        blocker.execute(text("SELECT id FROM token WHERE id = 'mws' FOR UPDATE"))  # a row lock
    # Let go after 4 s whatever happens, so code that waits for the lock ends (late) rather than hangs.
    release = threading.Timer(4.0, blocker.rollback)
    release.start()
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as caught:
            renew(engine=world, box=box, request=request(), may_act=lambda owners: True, now=NOW)
        waited = time.monotonic() - started
    finally:
        release.cancel()
        blocker.rollback()
        blocker.close()
    assert "lock" in str(caught.value).lower() or "timeout" in str(caught.value).lower()
    assert waited < 2.5  # inside Slack's 3 s, so the person sees the truth: not saved
    assert snapshot(world) == before
    # The pooled connection is back to its usual patience for everyone else.
    outcome = renew(engine=world, box=box, request=request(), may_act=lambda owners: True, now=NOW)
    assert outcome.new_expiry == NEW_EXPIRY
    if world.dialect.name == "sqlite":
        with world.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_source_token_whose_expiry_is_still_unknown_can_be_renewed_and_becomes_known(world, box):
    from renewbot.blocks.messages import confirmation_text
    from renewbot.domain.thresholds import UNKNOWN_EXPIRY

    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        tok.expires_at, tok.notify_from, tok.expiry_known, tok.source = (UNKNOWN_EXPIRY, UNKNOWN_EXPIRY, False,
                                                                         "tls://shop.example:443")
    outcome = renew(engine=world, box=box, request=request(), may_act=lambda owners: True, now=NOW)
    with session_scope(world) as s:
        tok = s.get(Token, "mws")
        assert (tok.expiry_known, tok.expires_at) == (True, NEW_EXPIRY)
    assert "unknown → 2027-11-26" in confirmation_text(outcome)


def test_reenabling_an_account_clears_the_reason_the_platform_gave_for_switching_it_off(world, box):
    with session_scope(world) as s:
        s.get(Account, "uk").state_reason = "token expired"
        s.get(Account, "fr").state_reason = "kept: not re-enabled by this renewal"
    with session_scope(world) as s:
        apply_renewal(session=s, box=box, submission=submission(reenable=frozenset({"uk"})), user_id="U0OWNER",
                      now=NOW)
    with session_scope(world) as s:
        assert s.get(Account, "uk").state_reason is None
        assert s.get(Account, "fr").state_reason == "kept: not re-enabled by this renewal"
