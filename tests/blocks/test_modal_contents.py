"""The renewal modal in renewbot/blocks/modal.py, block by block.

test_builders.py checks its structure against Slack's limits; these pin the exact blocks, labels and
metadata, so a changed word, limit or condition is noticed (see docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from renewbot.blocks import ids
from renewbot.blocks.modal import ModalState, default_expiry, renew_modal
from renewbot.domain.kinds import BUILTIN_KINDS, MAX_SECRET, Kind
from storage.models import Account, Token

TODAY = date(2026, 11, 26)
EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)


def token(kind: str = "generic", *, tid: str = "eu", name: str = "EU token", app_id: str | None = "APP1",
          version: int = 3) -> Token:
    return Token(id=tid, kind=kind, name=name, expires_at=EXPIRES, notify_from=EXPIRES - timedelta(days=30),
                 channel="C0123ALERTS", owners=["U0123OWNER"], app_id=app_id, version=version)


def account(i: int, *, fetch_orders: bool = True) -> Account:
    return Account(id=f"acc-{i}", name=f"Account {i}", enabled=False, fetch_orders=fetch_orders)


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def option(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


def by_id(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


# --- the whole view ---------------------------------------------------------------------------

def test_the_form_for_a_generic_token_exactly():
    view = renew_modal(token=token(), accounts=[account(1), account(2, fetch_orders=False)],
                       today=TODAY, channel="C0123ALERTS")
    assert view == {
        "type": "modal",
        "callback_id": ids.RENEW_MODAL,
        "title": plain("Renew token"),
        "close": plain("Cancel"),
        "submit": plain("Renew"),
        "private_metadata": '{"token_id":"eu","version":3,"channel":"C0123ALERTS"}',
        "blocks": [
            {"type": "input", "block_id": ids.TOKEN_BLOCK, "dispatch_action": True, "label": plain("Token"),
             "element": {"type": "external_select", "action_id": ids.TOKEN_SELECT, "min_query_length": 0,
                         "placeholder": plain("Type to search the tokens"),
                         "initial_option": option("EU token (eu)", "eu")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "Current expiry: *2026-12-01*. Create the new credential with its provider first, "
                "then paste it here.")}]},
            {"type": "input", "block_id": ids.SECRET_BLOCK, "label": plain("New token"),
             "hint": plain("Stored encrypted; never shown again in Slack."),
             "element": {"type": "plain_text_input", "action_id": ids.SECRET_INPUT, "max_length": MAX_SECRET,
                         "placeholder": plain("the new secret, no spaces")}},
            {"type": "input", "block_id": ids.EXPIRY_BLOCK, "label": plain("New expiry date"),
             "element": {"type": "datepicker", "action_id": ids.EXPIRY_INPUT}},
            {"type": "input", "block_id": "reenable:0", "optional": True, "label": plain("Re-enable these accounts"),
             "element": {"type": "checkboxes", "action_id": ids.ACCOUNTS_INPUT,
                         "options": [option("Account 1", "acc-1"), option("Account 2", "acc-2")],
                         "initial_options": [option("Account 1", "acc-1"), option("Account 2", "acc-2")]}},
            {"type": "input", "block_id": "nofetch:0", "optional": True, "label": plain("Don't fetch orders for"),
             "element": {"type": "checkboxes", "action_id": ids.ACCOUNTS_INPUT,
                         "options": [option("Account 1", "acc-1"), option("Account 2", "acc-2")],
                         "initial_options": [option("Account 2", "acc-2")]}},
        ],
    }


def test_the_bare_picker_exactly():
    view = renew_modal(token=None, accounts=[account(1)], today=TODAY)
    assert view == {
        "type": "modal",
        "callback_id": ids.RENEW_MODAL,
        "title": plain("Renew token"),
        "close": plain("Cancel"),
        "private_metadata": '{"token_id":null,"version":0,"channel":null}',
        "blocks": [
            {"type": "input", "block_id": ids.TOKEN_BLOCK, "dispatch_action": True, "label": plain("Token"),
             "element": {"type": "external_select", "action_id": ids.TOKEN_SELECT, "min_query_length": 0,
                         "placeholder": plain("Type to search the tokens")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Pick a token to see its renewal form."}]},
        ],
    }


def test_the_picker_lists_nothing_itself():
    # Its options come from the options load request (handlers/options.py), from the first keystroke on.
    el = renew_modal(token=None, accounts=[], today=TODAY)["blocks"][0]["element"]
    assert "options" not in el and el["min_query_length"] == 0 and el["type"] == "external_select"


def test_a_refusal_replaces_the_form_with_its_reason():
    view = renew_modal(token=token(), accounts=[account(1)], today=TODAY,
                       refusal="You can't renew *EU token*.")
    assert view["blocks"][1:] == [{"type": "section", "text": {"type": "mrkdwn",
                                                               "text": "You can't renew *EU token*."}}]
    assert view["submit"] == plain("Renew")
    refused_without_token = renew_modal(token=None, accounts=[], today=TODAY, refusal="No.")
    assert refused_without_token["blocks"][1:] == [{"type": "section", "text": {"type": "mrkdwn", "text": "No."}}]


def test_a_token_without_accounts_says_there_is_nothing_to_re_enable():
    view = renew_modal(token=token(), accounts=[], today=TODAY)
    assert view["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "This token serves no accounts: nothing to re-enable.")}]}
    assert not [b for b in view["blocks"] if b.get("block_id", "").startswith(("reenable:", "nofetch:"))]


def test_the_reminder_names_the_app_and_the_kind_given_wins_over_the_tokens():
    custom = Kind(id="eu-kind", label="EU key", reminder="Rotate {app} first.", placeholder="eu-…",
                  lifetime_days=30)
    view = renew_modal(token=token("amazon-mws"), accounts=[], today=TODAY, kind=custom)
    blocks = by_id(view)
    assert view["blocks"][1]["elements"][0]["text"] == "Current expiry: *2026-12-01*. Rotate app ID *APP1* first."
    assert blocks[ids.SECRET_BLOCK]["element"]["placeholder"] == plain("eu-…")
    assert blocks[ids.EXPIRY_BLOCK]["element"]["initial_date"] == "2026-12-26"


@pytest.mark.parametrize("kind_id, initial", [("amazon-mws", "2027-11-26"), ("amazon-lwa-client-secret", "2027-05-25")])
def test_the_expiry_is_suggested_from_the_kinds_lifetime(kind_id, initial):
    view = renew_modal(token=token(kind_id), accounts=[], today=TODAY)
    assert by_id(view)[ids.EXPIRY_BLOCK]["element"] == {"type": "datepicker", "action_id": ids.EXPIRY_INPUT,
                                                        "initial_date": initial}


def test_titles_are_clipped_to_24():
    view = renew_modal(token=token(), accounts=[], today=TODAY)
    for key in ("title", "close", "submit"):
        assert len(view[key]["text"]) <= 24


# --- the token picker -------------------------------------------------------------------------

def test_a_chosen_token_is_the_initial_option_whether_listed_or_not():
    for chosen in (token(tid="zz", name="ZZ token"), token(tid="us", name="US token")):
        el = renew_modal(token=chosen, accounts=[], today=TODAY)["blocks"][0]["element"]
        assert el["initial_option"] == option(f"{chosen.name} ({chosen.id})", chosen.id)
        assert "options" not in el


def test_option_texts_are_clipped_to_75():
    long = "n" * 100
    el = renew_modal(token=token(tid="x", name=long), accounts=[], today=TODAY)["blocks"][0]["element"]
    assert el["initial_option"]["text"]["text"] == "n" * 74 + "…"


# --- account checkboxes ---------------------------------------------------------------------------

def test_accounts_are_grouped_by_ten_with_continued_labels():
    accounts = [account(i, fetch_orders=i not in (3, 12)) for i in range(21)]
    view = renew_modal(token=token(), accounts=accounts, today=TODAY)
    blocks = by_id(view)
    assert [blocks[f"reenable:{n}"]["label"]["text"] for n in range(3)] == [
        "Re-enable these accounts", "Re-enable these accounts (continued)", "Re-enable these accounts (continued)"]
    assert [blocks[f"nofetch:{n}"]["label"]["text"] for n in range(3)] == [
        "Don't fetch orders for", "Don't fetch orders for (continued)", "Don't fetch orders for (continued)"]
    assert [[o["value"] for o in blocks[f"reenable:{n}"]["element"]["options"]] for n in range(3)] == [
        [f"acc-{i}" for i in range(10)], [f"acc-{i}" for i in range(10, 20)], ["acc-20"]]
    assert blocks["nofetch:0"]["element"]["initial_options"] == [option("Account 3", "acc-3")]
    assert blocks["nofetch:1"]["element"]["initial_options"] == [option("Account 12", "acc-12")]
    assert "initial_options" not in blocks["nofetch:2"]["element"]
    assert all(blocks[f"reenable:{n}"]["optional"] is True for n in range(3))


def test_exactly_ten_accounts_make_one_group():
    view = renew_modal(token=token(), accounts=[account(i) for i in range(10)], today=TODAY)
    assert [b["block_id"] for b in view["blocks"] if "block_id" in b][3:] == ["reenable:0", "nofetch:0"]


# --- ModalState -----------------------------------------------------------------------------------

def test_modal_state_dump_is_compact_json():
    assert ModalState("eu", 4, "C0123ALERTS").dump() == '{"token_id":"eu","version":4,"channel":"C0123ALERTS"}'
    assert ModalState().dump() == '{"token_id":null,"version":0,"channel":null}'


def test_modal_state_load_reads_what_dump_wrote():
    assert ModalState.load('{"token_id":"eu","version":4,"channel":"G0PRIVATE"}') == ModalState("eu", 4, "G0PRIVATE")
    assert ModalState.load('{"token_id":"eu"}') == ModalState("eu", 0, None)
    assert ModalState.load('{"version":5}') == ModalState(None, 5, None)


def test_modal_state_load_accepts_a_token_id_of_200_but_not_201():
    assert ModalState.load(json.dumps({"token_id": "t" * 200, "version": 1})) == ModalState("t" * 200, 1, None)
    assert ModalState.load(json.dumps({"token_id": "t" * 201, "version": 1})) == ModalState()


@pytest.mark.parametrize("raw", ['{"token_id": "t", "version": true}', '{"token_id": "t", "version": 1.5}',
                                 '{"token_id": "t", "version": null}'])
def test_modal_state_load_refuses_a_version_that_is_not_an_integer(raw):
    assert ModalState.load(raw) == ModalState()


@pytest.mark.parametrize("channel", ["#alerts", "U0123OWNER", "c0123alerts", ""])
def test_modal_state_load_drops_a_channel_that_is_not_a_channel_id(channel):
    assert ModalState.load(json.dumps({"token_id": "t", "version": 2, "channel": channel})) == ModalState("t", 2, None)


def test_modal_state_is_immutable():
    state = ModalState("eu", 1, None)
    with pytest.raises(AttributeError):
        state.version = 2  # type: ignore[misc]


# --- default_expiry ---------------------------------------------------------------------------------

def test_default_expiry_takes_a_kind_or_its_id():
    assert default_expiry("amazon-lwa-client-secret", TODAY) == TODAY + timedelta(days=180)
    assert default_expiry(BUILTIN_KINDS["amazon-lwa-client-secret"], TODAY) == TODAY + timedelta(days=180)
    assert default_expiry(Kind(id="amazon-mws", label="x", lifetime_days=7), TODAY) == TODAY + timedelta(days=7)
    assert default_expiry("no-such-kind", TODAY) is None
