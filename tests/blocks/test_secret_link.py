"""The form without its secret field, and the one-time link view it turns into (SECRET_ENTRY=page)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from renewbot.blocks import ids
from renewbot.blocks.modal import IN_FORM, ON_PAGE, WITH_AMAZON, renew_modal
from renewbot.blocks.platform import not_connected_blocks
from renewbot.blocks.secret_link import MAX_URL, page_url, secret_link_view
from renewbot.runtime.config import SecretEntrySettings
from renewbot.usecases.outside_renewal import entry_for
from storage.models import Token

TODAY = date(2026, 11, 26)
URL = "https://renewbot.example.com/renew/" + "k" * 43


def tok(kind: str = "amazon-mws") -> Token:
    return Token(id="eu", name="EU <token>", kind=kind, channel="C0ALERTS", owners=["U0OWNER"], version=3,
                 expires_at=datetime(2026, 12, 1, tzinfo=UTC))


def blocks_of(view: dict) -> set:
    return {b.get("block_id") for b in view["blocks"]}


@pytest.mark.parametrize("entry,secret,expiry,submit", [
    (IN_FORM, True, True, "Renew"), (ON_PAGE, False, True, "Continue"), (WITH_AMAZON, False, False, "Continue")])
def test_where_the_secret_is_entered_shapes_the_form(entry, secret, expiry, submit):
    view = renew_modal(token=tok(), accounts=[], today=TODAY, entry=entry)
    assert (ids.SECRET_BLOCK in blocks_of(view), ids.EXPIRY_BLOCK in blocks_of(view)) == (secret, expiry)
    assert view["submit"]["text"] == submit and view["callback_id"] == ids.RENEW_MODAL
    if entry == ON_PAGE:
        assert "private page" in str(view["blocks"]) and "never passes through Slack" in str(view["blocks"])


def test_a_value_that_carries_its_expiry_keeps_the_date_optional_on_the_page_path():
    view = renew_modal(token=tok("jwt"), accounts=[], today=TODAY, entry=ON_PAGE)
    (expiry,) = [b for b in view["blocks"] if b.get("block_id") == ids.EXPIRY_BLOCK]
    assert expiry["optional"] is True


def test_the_link_view_has_the_button_the_text_and_the_terms():
    view = secret_link_view(URL, "EU <token>", "token", expires_at=datetime(2026, 11, 26, 12, 10, tzinfo=UTC))
    assert view["callback_id"] == ids.SECRET_LINK_VIEW and "submit" not in view
    (button,) = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["url"]) == (ids.SECRET_LINK_BUTTON, URL)
    text = str(view["blocks"])
    assert URL in text and "10 minutes (until 12:10 UTC)" in text and "For you only" in text
    assert "Nothing is saved until you submit the page" in text and "EU &lt;token&gt;" in text


def test_a_link_too_long_for_slack_is_refused():
    with pytest.raises(ValueError):
        secret_link_view("https://x/" + "a" * MAX_URL, "t", "token", expires_at=datetime(2026, 11, 26, tzinfo=UTC))


def test_page_url_and_entry_for():
    assert page_url("https://r.example.com/", "abc") == "https://r.example.com/renew/abc"
    page = SecretEntrySettings(public_url="https://r.example.com", secret_entry="page")
    modal = SecretEntrySettings(public_url="https://r.example.com", secret_entry="modal")
    amazon = SecretEntrySettings(public_url="https://r.example.com", secret_entry="page", amazon_spapi_app_id="amzn1")
    assert entry_for(tok(), page) == ON_PAGE and entry_for(tok(), modal) == IN_FORM
    assert entry_for(tok(), SecretEntrySettings()) == IN_FORM
    # A self-authorized SP-API app (no app id to send people to Amazon with): the private page.
    assert entry_for(tok("amazon-sp-api"), page) == ON_PAGE
    assert entry_for(tok("amazon-sp-api"), amazon) == WITH_AMAZON and entry_for(tok(), amazon) == ON_PAGE


def test_without_a_connector_an_amazon_renewal_says_only_a_connector_can_deliver_it():
    pasted = not_connected_blocks(7)[0]["text"]["text"]
    from_amazon = not_connected_blocks(7, seen_by_person=False)[0]["text"]["text"]
    assert "Paste the new token" in pasted and "connector" not in pasted
    assert "Paste" not in from_amazon and "Nobody has seen the new token" in from_amazon
    assert "`connector`" in from_amazon


def test_the_amazon_form_does_not_tell_people_to_paste_a_token():
    tok = Token(id="sp", kind="amazon-sp-api", name="SP", expires_at=datetime(2027, 1, 1, tzinfo=UTC),
                notify_from=datetime(2026, 12, 2, tzinfo=UTC), channel="C0ALERTS", owners=["U0OWNER"])
    view = renew_modal(token=tok, accounts=[], today=date(2026, 12, 4), entry=WITH_AMAZON)
    texts = " ".join(e.get("text", "") for b in view["blocks"] if b["type"] == "context" for e in b["elements"])
    assert "paste" not in texts.lower() and "Amazon's authorization page" in texts
