"""The renewal form for kinds that read their expiry from the value (jwt, x509): the date is optional, a date
that disagrees is refused on the date field, an expired value or a private key on the token field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renewbot.domain.credentials import PRIVATE_KEY
from renewbot.domain.kinds import MAX_SECRET, resolve
from renewbot.domain.validation import (
    EXPIRY_FIELD,
    SECRET_FIELD,
    RenewalForm,
    read_secret,
    secret_problem,
    validate_renewal,
)
from renewbot.errors import RenewalRejected
from tests.support.credentials import make_certificate, make_jwt, private_key_pem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CURRENT = datetime(2026, 12, 1, tzinfo=UTC)
VALUE_EXPIRY = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)  # late in the day: its UTC day is the 28th
CERT = make_certificate(VALUE_EXPIRY)
JWT = make_jwt({"sub": "svc", "exp": int(VALUE_EXPIRY.timestamp())})


def validate(kind: str, secret, expiry=None, current=CURRENT):
    return validate_renewal(RenewalForm(secret=secret, expiry=expiry), token_id="t", version=3, kind=kind,
                            current_expiry=current, account_ids=[], now=NOW)


def refused(kind: str, secret, expiry=None, current=CURRENT) -> dict[str, str]:
    with pytest.raises(RenewalRejected) as caught:
        validate(kind, secret, expiry, current)
    return caught.value.errors


@pytest.mark.parametrize("kind, value", [("jwt", JWT), ("x509", CERT)])
def test_without_a_date_the_expiry_is_the_values_own(kind, value):
    submission = validate(kind, f"\n{value}\n")
    assert submission.new_expiry == VALUE_EXPIRY
    assert submission.secret == value.strip()  # a certificate keeps its line breaks; only the ends are trimmed


@pytest.mark.parametrize("kind, value", [("jwt", JWT), ("x509", CERT)])
def test_a_date_on_the_values_own_day_is_accepted_and_the_exact_moment_kept(kind, value):
    assert validate(kind, value, "2027-02-28").new_expiry == VALUE_EXPIRY


@pytest.mark.parametrize("kind, value, label", [("jwt", JWT, "JWT"), ("x509", CERT, "certificate")])
def test_a_date_that_disagrees_is_refused_on_the_date_field_naming_the_values_date(kind, value, label):
    errors = refused(kind, value, "2027-03-01")
    assert errors == {EXPIRY_FIELD: f"The {label} says it expires on 2027-02-28 (UTC): pick that date, or leave "
                                    "the date empty."}


def test_an_unreadable_date_is_still_refused_for_a_value_kind():
    assert refused("x509", CERT, "28/02/2027") == {EXPIRY_FIELD: "That is not a date."}


@pytest.mark.parametrize("kind, value", [
    ("jwt", make_jwt({"exp": int((NOW - timedelta(days=1)).timestamp())})),
    ("x509", make_certificate(NOW - timedelta(minutes=1))),
])
def test_an_expired_value_is_refused_on_the_token_field(kind, value):
    errors = refused(kind, value)
    assert set(errors) == {SECRET_FIELD} and "expired on 2026-11-2" in errors[SECRET_FIELD]


def test_a_value_not_later_than_the_current_expiry_is_refused_as_probably_the_old_one():
    errors = refused("x509", make_certificate(CURRENT - timedelta(hours=1)))
    assert errors == {SECRET_FIELD: "This certificate expires on 2026-11-30, not later than the current expiry "
                                    "(2026-12-01): is it the old one?"}


@pytest.mark.parametrize("kind", ["x509", "jwt", "generic", "amazon-sp-api"])
@pytest.mark.parametrize("fmt", ["pkcs8", "traditional", "openssh"])
def test_a_private_key_is_refused_on_the_token_field_whatever_the_kind(kind, fmt):
    for value in (private_key_pem(fmt), f"{CERT}{private_key_pem(fmt)}"):
        assert refused(kind, value, "2027-02-28") == {SECRET_FIELD: PRIVATE_KEY}


def test_the_date_is_still_required_for_kinds_that_do_not_read_the_value():
    assert refused("generic", "s3cr3t-value") == {EXPIRY_FIELD: "Pick the new expiry date."}


def test_the_date_is_not_asked_for_when_the_value_itself_is_wrong():
    assert refused("jwt", "not-a-jwt") == {
        SECRET_FIELD: "A JWT has three parts separated by dots (header.payload.signature): check you copied all of it."}


@pytest.mark.parametrize("kind, label", [("jwt", "JWT"), ("x509", "certificate")])
def test_messages_name_what_the_kind_asks_for(kind, label):
    assert secret_problem(kind, " ") == f"Paste the new {label}."
    assert secret_problem(kind, "x" * (MAX_SECRET + 1)) == (
        f"That is longer than {MAX_SECRET} characters: paste only the {label}.")


def test_only_a_multiline_kind_takes_line_breaks():
    assert secret_problem("jwt", JWT.replace(".", ".\n", 1)) == "The JWT must not contain spaces or line breaks."
    assert read_secret("x509", CERT) == (None, read_secret("x509", CERT)[1])
    assert read_secret("x509", CERT)[1].subject == "CN=shop.example"
    assert read_secret("generic", "abc") == (None, None)


def test_the_kinds_table_says_how_each_kind_is_read_and_checked():
    assert resolve("x509").multiline and not resolve("jwt").multiline
    assert resolve("amazon-sp-api").verifier == "lwa"
    assert all(resolve(k).verifier is None for k in ("jwt", "x509", "generic", "amazon-mws"))
    for kind in ("jwt", "x509"):
        hint = resolve(kind).secret_hint
        assert "3,000 characters" in hint and resolve(kind).expiry_from_value is not None
    assert "leaf" in resolve("x509").secret_hint and "private key" in resolve("x509").secret_hint
