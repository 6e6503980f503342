"""The form for kinds that read their expiry from the value, and the confirmation's verification sentence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from renewbot.blocks import ids
from renewbot.blocks.messages import confirmation_blocks, confirmation_text
from renewbot.blocks.modal import renew_modal
from renewbot.usecases.renewal import RenewalOutcome
from renewbot.usecases.verify import LWA_SETTINGS_REFUSED
from storage.models import Token

EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)


def form(kind: str) -> dict[str, dict]:
    tok = Token(id="t", kind=kind, name="Edge cert", expires_at=EXPIRES, notify_from=EXPIRES - timedelta(days=30),
                channel="C0123ALERTS", owners=["U0123OWNER"])
    view = renew_modal(token=tok, accounts=[], today=date(2026, 11, 26))
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def test_a_certificate_form_takes_lines_says_slacks_limit_and_needs_no_date():
    blocks = form("x509")
    secret, expiry = blocks[ids.SECRET_BLOCK], blocks[ids.EXPIRY_BLOCK]
    assert secret["label"]["text"] == "New certificate"
    assert secret["element"]["multiline"] is True and secret["element"]["max_length"] == 3000
    hint = secret["hint"]["text"]
    assert "3,000 characters" in hint and "leaf" in hint and "private key" in hint and "Stored encrypted" in hint
    assert expiry["optional"] is True and "initial_date" not in expiry["element"]
    assert expiry["hint"]["text"] == "Optional: read from the certificate. A date you pick must be the same day (UTC)."


def test_a_jwt_form_is_one_line_with_an_optional_date():
    blocks = form("jwt")
    assert blocks[ids.SECRET_BLOCK]["label"]["text"] == "New JWT"
    assert "multiline" not in blocks[ids.SECRET_BLOCK]["element"]
    assert blocks[ids.EXPIRY_BLOCK]["optional"] is True


@pytest.mark.parametrize("kind", ["generic", "amazon-sp-api"])
def test_other_kinds_keep_the_required_date_and_the_plain_hint(kind):
    blocks = form(kind)
    assert blocks[ids.SECRET_BLOCK]["label"]["text"] == "New token"
    assert blocks[ids.SECRET_BLOCK]["hint"]["text"] == "Stored encrypted; never shown again in Slack."
    assert "optional" not in blocks[ids.EXPIRY_BLOCK] and "hint" not in blocks[ids.EXPIRY_BLOCK]


def outcome(verification: str | None, by: str | None = None) -> RenewalOutcome:
    return RenewalOutcome(token_id="sp", token_name="EU <SP-API>", channel="C0123ALERTS", renewed_by="U0RENEWER",
                          old_expiry=EXPIRES, new_expiry=datetime(2027, 12, 1, tzinfo=UTC), accounts=[],
                          thread=None, verification=verification, verified_by=by)


@pytest.mark.parametrize("verification, by, sentence", [
    ("verified", "Amazon", ":white_check_mark: The new token was verified with Amazon."),
    ("unverified: Amazon did not answer within 1.2 s", "Amazon",
     ":warning: The new token was saved, but could not be verified: Amazon did not answer within 1.2 s."),
    (f"unverified: {LWA_SETTINGS_REFUSED}", "Amazon",
     ":warning: The new token was saved as not verified: renewbot's LWA settings were refused (an operator must "
     "fix AMAZON_LWA_CLIENT_ID/SECRET)."),
    ("unverified: api<x>.example answered HTTP 500", "api<x>.example",
     ":warning: The new token was saved, but could not be verified: api&lt;x&gt;.example answered HTTP 500."),
])
def test_the_confirmation_says_what_the_check_said(verification, by, sentence):
    blocks = str(confirmation_blocks(outcome(verification, by)))
    assert sentence in blocks
    assert sentence.split(" ", 1)[1] in confirmation_text(outcome(verification, by))


def test_nothing_is_said_when_there_was_nothing_to_check():
    assert "verif" not in confirmation_text(outcome(None)) + str(confirmation_blocks(outcome(None)))
