"""validation.py: secrets per kind, the new expiry, and reading the modal's state.values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from handlers.payload import parse_submission
from renewbot.blocks import ids
from renewbot.blocks.modal import renew_modal
from renewbot.domain.validation import (
    CHECKBOX_GROUP,
    MAX_SECRET,
    RenewalForm,
    as_expiry,
    expiry_problem,
    secret_problem,
    validate_renewal,
)
from renewbot.errors import RenewalRejected
from storage.models import Account, Token

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CURRENT = datetime(2026, 12, 1, tzinfo=UTC)
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
    problem = expiry_problem(day, current=datetime(2026, 1, 1, tzinfo=UTC), now=NOW)
    assert problem and "future" in problem


@pytest.mark.parametrize("day", [date(2026, 11, 30), date(2026, 12, 1)])
def test_expiry_not_later_than_current_is_refused_and_names_current(day):
    problem = expiry_problem(day, current=CURRENT, now=NOW)
    assert problem and "2026-12-01" in problem


def test_expired_token_can_move_to_any_future_date():
    long_gone = datetime(2026, 10, 1, tzinfo=UTC)
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
    assert sub.new_expiry == datetime(2027, 11, 26, tzinfo=UTC)
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
    view = renew_modal(token=token, accounts=accounts, today=NOW.date())
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
    assert sub.new_expiry == datetime(2027, 11, 26, tzinfo=UTC)


# --- exact wording, and validate_renewal called directly (pinned by mutation testing) --------------

ACCOUNTS_12 = [f"acc-{i}" for i in range(12)]


def test_date_error_messages_are_worded_exactly():
    assert expiry_problem(None, current=CURRENT, now=NOW) == "Pick the new expiry date."
    assert expiry_problem(date(2026, 11, 26), current=CURRENT, now=NOW) == "The new expiry must be in the future."
    assert expiry_problem(date(2026, 11, 30), current=CURRENT, now=NOW) == (
        "The new expiry must be later than the current one (2026-12-01).")


def test_the_expiry_boundaries_are_strict():
    # midnight UTC of the new day must be strictly after now, and strictly after the current expiry
    midnight = datetime(2026, 11, 27, tzinfo=UTC)
    assert expiry_problem(date(2026, 11, 27), current=CURRENT, now=midnight) == (
        "The new expiry must be in the future.")
    assert expiry_problem(date(2026, 12, 1), current=CURRENT, now=NOW) == (
        "The new expiry must be later than the current one (2026-12-01).")
    assert expiry_problem(date(2026, 12, 2), current=CURRENT, now=NOW) is None


def test_unparseable_date_message_is_exact():
    with pytest.raises(RenewalRejected) as exc:
        parse(state(day="26/11/2027"))
    assert exc.value.errors == {"expiry": "That is not a date."}
    with pytest.raises(RenewalRejected) as exc:
        parse(state(day=None))
    assert exc.value.errors == {"expiry": "Pick the new expiry date."}


def test_a_date_that_is_not_a_string_is_not_a_date():
    form = RenewalForm(secret=GOOD_MWS, expiry=20271126)
    with pytest.raises(RenewalRejected) as exc:
        validate_renewal(form, token_id="t", version=1, kind="amazon-mws", current_expiry=CURRENT,
                         account_ids=[], now=NOW)
    assert exc.value.errors == {"expiry": "That is not a date."}


def test_as_expiry_is_midnight_utc():
    assert as_expiry(date(2027, 1, 2)) == datetime(2027, 1, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind, value, message", [
    ("generic", None, "Paste the new token."),
    ("generic", "  ", "Paste the new token."),
    ("generic", "x" * 3001, "That is longer than 3000 characters: paste only the token."),
    ("amazon-mws", "nonsense",
     "An MWS auth token looks like amzn.mws.<uuid>, e.g. amzn.mws.1a2b3c4d-…; check you copied all of it."),
    ("amazon-sp-api", "Atza|access",
     "An SP-API refresh token starts with Atzr| — check you copied the refresh token, not the access token."),
    ("generic", "two words", "The token must not contain spaces or line breaks."),
    ("amazon-sp-api", "Atzr|two words", "The token must not contain spaces or line breaks."),
])
def test_secret_messages_are_worded_exactly(kind, value, message):
    assert secret_problem(kind, value) == message


def test_secret_length_limit_and_the_kinds_rules_are_kind_specific():
    assert MAX_SECRET == 3000
    assert secret_problem("generic", "x" * 3000) is None
    assert secret_problem("generic", GOOD_SP) is None  # "Atzr|" is only required of SP-API tokens
    assert secret_problem("generic", "amzn.mws.short") is None  # the MWS shape only of MWS tokens
    assert secret_problem("amazon-sp-api", "Atzr|" + "x" * 2995) is None


def _validate(form: RenewalForm, accounts=ACCOUNTS_12):
    return validate_renewal(form, token_id="tok-1", version=4, kind="amazon-mws", current_expiry=CURRENT,
                            account_ids=accounts, now=NOW)


def test_validate_renewal_returns_the_whole_submission():
    sub = _validate(RenewalForm(secret=f" {GOOD_MWS}\n", expiry="2027-11-26",
                                reenable={0: frozenset({"acc-1", "acc-9"}), 1: frozenset({"acc-11"})},
                                no_fetch={1: frozenset({"acc-10", "elsewhere"})}))
    assert (sub.token_id, sub.version, sub.secret) == ("tok-1", 4, GOOD_MWS)
    assert sub.new_expiry == datetime(2027, 11, 26, tzinfo=UTC)
    assert sub.reenable == {"acc-1", "acc-9", "acc-11"}
    assert sub.no_fetch == {"acc-10"}


def test_unreadable_checkbox_groups_are_errors_keyed_by_their_group():
    assert CHECKBOX_GROUP == 10
    with pytest.raises(RenewalRejected) as exc:
        _validate(RenewalForm(secret=GOOD_MWS, expiry="2027-11-26", reenable={0: frozenset(), 1: None},
                              no_fetch={0: None}))
    assert exc.value.errors == {"reenable:1": "These boxes could not be read: tick them again.",
                                "nofetch:0": "These boxes could not be read: tick them again."}


def test_groups_beyond_the_accounts_are_ignored_and_a_missing_group_is_not_an_error():
    # 12 accounts make two groups (0 and 1): group 2 is not the form's, group 1 may be absent
    sub = _validate(RenewalForm(secret=GOOD_MWS, expiry="2027-11-26", reenable={0: frozenset({"acc-0"}), 2: None},
                                no_fetch={2: frozenset({"acc-1"})}))
    assert sub.reenable == {"acc-0"} and sub.no_fetch == frozenset()
    # exactly 10 accounts make one group: a group 1 is ignored, even unreadable
    sub = _validate(RenewalForm(secret=GOOD_MWS, expiry="2027-11-26", reenable={1: None}),
                    accounts=ACCOUNTS_12[:10])
    assert sub.reenable == frozenset()
    # 11 accounts make two
    with pytest.raises(RenewalRejected) as exc:
        _validate(RenewalForm(secret=GOOD_MWS, expiry="2027-11-26", reenable={1: None}), accounts=ACCOUNTS_12[:11])
    assert set(exc.value.errors) == {"reenable:1"}


def test_a_bad_date_is_reported_once_not_overwritten_by_the_missing_date_message():
    with pytest.raises(RenewalRejected) as exc:
        _validate(RenewalForm(secret=GOOD_MWS, expiry="not-a-date"))
    assert exc.value.errors == {"expiry": "That is not a date."}


def test_forms_and_submissions_are_immutable():
    import dataclasses

    sub = _validate(RenewalForm(secret=GOOD_MWS, expiry="2027-11-26"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.secret = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        RenewalForm().secret = "changed"  # type: ignore[misc]
