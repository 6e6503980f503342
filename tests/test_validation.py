"""validation.py: secrets per kind, the new expiry, and reading the modal's state.values."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

import ids
from blocks.modal import renew_modal
from errors import RenewalRejected
from storage.models import Account, Token
from validation import expiry_problem, parse_submission, secret_problem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
CURRENT = datetime(2026, 12, 1, tzinfo=timezone.utc)
GOOD_MWS = "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
GOOD_SP = "Atzr|IwEBIJ9s-secret-refresh-token-value"
GOOD_GENERIC = "sk_live_0123456789abcdef"
GOOD_SECRET = {"amazon-mws": GOOD_MWS, "amazon-sp-api": GOOD_SP, "generic": GOOD_GENERIC}


# --- secret_problem ---------------------------------------------------------------

@pytest.mark.parametrize("kind, value", [
    ("amazon-mws", GOOD_MWS),
    ("amazon-mws", "  " + GOOD_MWS + "\n"),  # pasted with surrounding space
    ("amazon-sp-api", GOOD_SP),
    ("generic", GOOD_GENERIC),
    ("generic", "x" * 3000),
])
def test_good_secrets_pass(kind, value):
    assert secret_problem(kind, value) is None


@pytest.mark.parametrize("kind, value", [
    ("amazon-mws", "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d"),  # truncated copy
    ("amazon-mws", "mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"),
    ("amazon-mws", "amzn.mws.1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6dXX"),
    ("amazon-mws", "amzn.mws.zzzzzzzz-5e6f-7a8b-9c0d-1e2f3a4b5c6d"),
    ("amazon-mws", GOOD_MWS + " trailing-words"),
    ("amazon-mws", GOOD_SP),
    ("amazon-sp-api", "Atza|this-is-the-access-token"),
    ("amazon-sp-api", "atzr|lowercase-prefix"),
    ("amazon-sp-api", "Atzr|has a space inside"),
    ("amazon-sp-api", GOOD_MWS),
    ("generic", "has space"),
    ("generic", "tab\tinside"),
    ("generic", "line\nbreak"),
    ("generic", "x" * 3001),
    ("amazon-sp-api", "Atzr|" + "x" * 3000),
])
def test_bad_secrets_are_refused_without_echoing_them(kind, value):
    problem = secret_problem(kind, value)
    assert problem
    assert value.strip() not in problem
    # the distinctive part of the pasted value must not leak either
    assert value.strip()[-12:] not in problem


@pytest.mark.parametrize("kind", ["amazon-mws", "amazon-sp-api", "generic"])
@pytest.mark.parametrize("value", [None, "", "   ", "\n\t"])
def test_empty_secret_is_refused_for_every_kind(kind, value):
    assert secret_problem(kind, value)


def test_mws_hint_describes_the_expected_shape():
    assert "amzn.mws." in secret_problem("amazon-mws", "nonsense")
    assert "Atzr|" in secret_problem("amazon-sp-api", "nonsense")


# --- expiry_problem ------------------------------------------------------------------

def test_expiry_in_the_future_and_later_than_current_is_fine():
    assert expiry_problem(date(2027, 11, 26), current=CURRENT, now=NOW) is None
    assert expiry_problem(date(2026, 12, 2), current=CURRENT, now=NOW) is None


def test_missing_expiry_is_refused():
    assert expiry_problem(None, current=CURRENT, now=NOW)


@pytest.mark.parametrize("day", [date(2026, 11, 26), date(2026, 11, 25), date(2020, 1, 1)])
def test_expiry_today_or_past_is_refused(day):
    # today's date means midnight UTC, which is already past at 12:00
    problem = expiry_problem(day, current=datetime(2026, 1, 1, tzinfo=timezone.utc), now=NOW)
    assert problem and "future" in problem


@pytest.mark.parametrize("day", [date(2026, 11, 30), date(2026, 12, 1)])
def test_expiry_not_later_than_current_is_refused_and_names_current(day):
    problem = expiry_problem(day, current=CURRENT, now=NOW)
    assert problem and "2026-12-01" in problem


def test_expired_token_can_move_to_any_future_date():
    long_gone = datetime(2026, 10, 1, tzinfo=timezone.utc)
    assert expiry_problem(date(2026, 11, 27), current=long_gone, now=NOW) is None


# --- parse_submission --------------------------------------------------------------

def _acc(i: int, **kw) -> Account:
    return Account(id=f"acc-{i}", name=f"Account {i}", **kw)


def _checked(block_prefix: str, groups: list[list[str]]) -> dict:
    return {f"{block_prefix}{n}": {ids.ACCOUNTS_INPUT: {
        "type": "checkboxes",
        "selected_options": [{"text": {"type": "plain_text", "text": v}, "value": v} for v in group]}}
        for n, group in enumerate(groups)}


def state(secret: str | None = GOOD_MWS, day: str | None = "2027-11-26", reenable=(), nofetch=()) -> dict:
    values = {
        ids.SECRET_BLOCK: {ids.SECRET_INPUT: {"type": "plain_text_input", "value": secret}},
        ids.EXPIRY_BLOCK: {ids.EXPIRY_INPUT: {"type": "datepicker", "selected_date": day}},
    }
    values.update(_checked(ids.REENABLE_BLOCK_PREFIX, [list(g) for g in reenable]))
    values.update(_checked(ids.NOFETCH_BLOCK_PREFIX, [list(g) for g in nofetch]))
    return values


def parse(values: dict, kind: str = "amazon-mws", accounts=None, current: datetime = CURRENT):
    return parse_submission(values, token_id="tok-1", version=4, kind=kind, current_expiry=current,
                            accounts=accounts if accounts is not None else [_acc(1), _acc(2)], now=NOW)


def test_good_submission_is_parsed():
    sub = parse(state(reenable=[["acc-1", "acc-2"]], nofetch=[["acc-2"]]))
    assert sub.token_id == "tok-1" and sub.version == 4
    assert sub.secret == GOOD_MWS
    assert sub.new_expiry == datetime(2027, 11, 26, tzinfo=timezone.utc)
    assert sub.new_expiry.tzinfo is not None
    assert sub.reenable == {"acc-1", "acc-2"}
    assert sub.no_fetch == {"acc-2"}


def test_secret_is_stored_stripped():
    assert parse(state(secret="\n " + GOOD_MWS + "  \n")).secret == GOOD_MWS


def test_nothing_ticked_means_empty_sets():
    sub = parse(state())
    assert sub.reenable == frozenset() and sub.no_fetch == frozenset()


def test_checkboxes_are_read_across_several_blocks():
    accounts = [_acc(i) for i in range(25)]
    sub = parse(state(reenable=[["acc-0", "acc-9"], ["acc-10"], ["acc-24"]],
                      nofetch=[[], ["acc-15"], ["acc-20", "acc-21"]]), accounts=accounts)
    assert sub.reenable == {"acc-0", "acc-9", "acc-10", "acc-24"}
    assert sub.no_fetch == {"acc-15", "acc-20", "acc-21"}


def test_reenable_and_nofetch_are_not_confused():
    sub = parse(state(reenable=[["acc-1"]], nofetch=[["acc-2"]]))
    assert sub.reenable == {"acc-1"}
    assert sub.no_fetch == {"acc-2"}


def test_values_for_accounts_the_token_does_not_serve_are_ignored():
    sub = parse(state(reenable=[["acc-1", "someone-elses"]], nofetch=[["acc-1", "evil"]]))
    assert sub.reenable == {"acc-1"}
    assert sub.no_fetch == {"acc-1"}


def test_bad_secret_is_keyed_by_secret_block():
    with pytest.raises(RenewalRejected) as exc:
        parse(state(secret="not a token"))
    assert set(exc.value.errors) == {"secret"}


def test_bad_expiry_is_keyed_by_expiry_block():
    with pytest.raises(RenewalRejected) as exc:
        parse(state(day="2026-11-01"))
    assert set(exc.value.errors) == {"expiry"}


@pytest.mark.parametrize("day", [None, "", "26/11/2027", "2027-02-30"])
def test_missing_or_unparseable_date_is_keyed_by_expiry(day):
    with pytest.raises(RenewalRejected) as exc:
        parse(state(day=day))
    assert set(exc.value.errors) == {"expiry"}
    assert exc.value.errors["expiry"]


def test_both_errors_are_reported_at_once():
    with pytest.raises(RenewalRejected) as exc:
        parse(state(secret="", day="2025-01-01"))
    assert set(exc.value.errors) == {"secret", "expiry"}


def test_missing_blocks_are_reported_not_crashed_on():
    with pytest.raises(RenewalRejected) as exc:
        parse({})
    assert set(exc.value.errors) == {"secret", "expiry"}


@pytest.mark.parametrize("kind, secret", [
    ("amazon-mws", "amzn.mws.SECRET-VALUE-not-a-uuid"),
    ("amazon-sp-api", "Atza|SECRET-VALUE-access-token"),
    ("amazon-sp-api", "Atzr|SECRET VALUE with space"),
    ("generic", "SECRET VALUE with space"),
    ("generic", "SECRET-VALUE" * 300),
])
def test_rejection_never_contains_the_submitted_secret(kind, secret):
    with pytest.raises(RenewalRejected) as exc:
        parse(state(secret=secret, day="2020-01-01"), kind=kind)
    everything = str(exc.value) + repr(exc.value) + " ".join(exc.value.errors.values()) + repr(exc.value.args)
    assert "SECRET" not in everything
    assert secret not in everything


@pytest.mark.parametrize("kind", ["amazon-mws", "amazon-sp-api", "generic"])
def test_each_kind_accepts_its_own_secret_shape(kind):
    assert parse(state(secret=GOOD_SECRET[kind]), kind=kind).secret == GOOD_SECRET[kind]


def test_parse_reads_the_block_ids_the_modal_actually_builds():
    accounts = [_acc(i, fetch_orders=(i % 3 != 0)) for i in range(23)]
    token = Token(id="tok-1", kind="amazon-mws", name="EU MWS", channel="C1",
                  expires_at=CURRENT, notify_from=NOW, version=4)
    view = renew_modal(token=token, accounts=accounts, choices=[("tok-1", "EU MWS")], today=NOW.date())
    values = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        el = block["element"]
        if el["type"] == "checkboxes":  # submit exactly what the modal presets
            values[block["block_id"]] = {el["action_id"]: {"type": "checkboxes",
                                                           "selected_options": el.get("initial_options", [])}}
        elif el["type"] == "plain_text_input":
            values[block["block_id"]] = {el["action_id"]: {"type": "plain_text_input", "value": GOOD_MWS}}
        elif el["type"] == "datepicker":
            values[block["block_id"]] = {el["action_id"]: {"type": "datepicker",
                                                           "selected_date": el["initial_date"]}}
    sub = parse(values, accounts=accounts)
    assert sub.reenable == {a.id for a in accounts}
    assert sub.no_fetch == {a.id for a in accounts if not a.fetch_orders}
    assert sub.new_expiry == datetime(2027, 11, 26, tzinfo=timezone.utc)
