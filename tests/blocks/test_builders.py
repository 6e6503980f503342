"""The Block Kit builders: content, Slack formatting, escaping, and Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.metadata import Metadata
from slack_sdk.models.views import View

from renewbot.blocks import ids
from renewbot.blocks.messages import confirmation_blocks, confirmation_text, not_allowed_text, unknown_token_text
from renewbot.blocks.modal import ModalState, default_expiry, renew_modal
from renewbot.blocks.notice import notice_blocks, notice_metadata, notice_text, resolved_blocks, resolved_text
from renewbot.blocks.runbook import provider_reminder, runbook_blocks, runbook_steps, runbook_text
from renewbot.usecases.renewal import RenewalOutcome
from storage.models import Account, Token

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)
NEW_EXPIRY = datetime(2027, 12, 1, tzinfo=UTC)
KINDS = ("amazon-mws", "amazon-sp-api", "generic")

EVIL = "<!channel> <@U999> <b>&amp; Evil & Co"
LONG_EVIL = EVIL + " " + "x" * 5000
DATE_RE = re.compile(r"<!date\^(\d+)\^[^|>]+\|([^>]+)>")


def token(kind: str = "amazon-mws", *, name: str = "Amazon EU MWS token", tid: str = "amazon-eu-mws",
          app_id: str | None = "532089569783", expires_at: datetime = EXPIRES, version: int = 3) -> Token:
    return Token(id=tid, kind=kind, name=name, expires_at=expires_at, notify_from=expires_at - timedelta(days=30),
                 channel="C0123ALERTS", owners=["U0123OWNER"], app_id=app_id, version=version)


def account(i: int, *, name: str | None = None, url: bool = True, enabled: bool = False,
            fetch_orders: bool = True) -> Account:
    return Account(id=f"amazon-{i}", name=name or f"Amazon {i}", enabled=enabled, fetch_orders=fetch_orders,
                   settings_url=f"https://commerce.example/accounts/amazon-{i}" if url else None)


def outcome(name: str = "Amazon EU MWS token", accounts: list[Account] | None = None) -> RenewalOutcome:
    accounts = accounts if accounts is not None else [account(1), account(2, fetch_orders=False)]
    return RenewalOutcome(
        token_id="amazon-eu-mws", token_name=name, channel="C0123ALERTS", renewed_by="U0RENEWER",
        old_expiry=EXPIRES, new_expiry=NEW_EXPIRY,
        accounts=[dict(id=a.id, name=a.name, reenabled=(n % 2 == 0), enabled=(n % 2 == 0) or a.enabled,
                       fetch_orders=a.fetch_orders) for n, a in enumerate(accounts)],
        thread=None)


# --- walking blocks -------------------------------------------------------------------

def text_objects(obj):
    """Every text object ({"type": "plain_text"|"mrkdwn", "text": ...}) anywhere inside."""
    if isinstance(obj, dict):
        if obj.get("type") in ("plain_text", "mrkdwn") and isinstance(obj.get("text"), str):
            yield obj
        for value in obj.values():
            yield from text_objects(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from text_objects(item)


def mrkdwn_texts(blocks) -> list[str]:
    return [t["text"] for t in text_objects(blocks) if t["type"] == "mrkdwn"]


def all_text(blocks) -> str:
    return "\n".join(t["text"] for t in text_objects(blocks))


def check_option(opt: dict) -> None:
    assert len(opt["text"]["text"]) <= 75, "option text"
    assert 1 <= len(opt["value"]) <= 150, "option value"


def check_element(el: dict) -> None:
    kind = el["type"]
    if kind == "button":
        assert len(el["text"]["text"]) <= 75, "button text"
        assert el["text"]["type"] == "plain_text"
        assert len(el.get("value", "")) <= 2000
        assert len(el.get("url", "")) <= 3000
        assert len(el["action_id"]) <= 255
    elif kind == "static_select":
        assert 1 <= len(el["options"]) <= 100, "static_select options"
        for opt in el["options"]:
            check_option(opt)
        if "initial_option" in el:
            assert el["initial_option"] in el["options"]
        assert len(el["placeholder"]["text"]) <= 150
    elif kind in ("external_select", "multi_external_select"):
        assert "options" not in el and el.get("min_query_length", 3) >= 0
        assert len(el.get("initial_options", [])) <= 100, "initial options"
        for opt in el.get("initial_options", []) + ([el["initial_option"]] if "initial_option" in el else []):
            check_option(opt)
        assert len(el["placeholder"]["text"]) <= 150
    elif kind == "checkboxes":
        assert 1 <= len(el["options"]) <= 10, "checkbox options"
        for opt in el["options"]:
            check_option(opt)
        for opt in el.get("initial_options", []):
            assert opt in el["options"]
    elif kind == "plain_text_input":
        assert el.get("max_length", 3000) <= 3000
        assert len(el.get("placeholder", {}).get("text", "")) <= 150
    elif kind == "datepicker" and "initial_date" in el:
        date.fromisoformat(el["initial_date"])


def check_block(block: dict) -> None:
    kind = block["type"]
    if "block_id" in block:
        assert len(block["block_id"]) <= 255
    if kind == "header":
        assert block["text"]["type"] == "plain_text"
        assert len(block["text"]["text"]) <= 150, "header text"
    elif kind == "section":
        assert "text" in block or "fields" in block
        if "text" in block:
            assert 1 <= len(block["text"]["text"]) <= 3000, "section text"
        fields = block.get("fields", [])
        assert len(fields) <= 10
        for field in fields:
            assert 1 <= len(field["text"]) <= 2000, "section field"
    elif kind == "context":
        assert 1 <= len(block["elements"]) <= 10
        for el in block["elements"]:
            assert 1 <= len(el["text"]) <= 3000, "context text"
    elif kind == "actions":
        assert 1 <= len(block["elements"]) <= 25
        for el in block["elements"]:
            check_element(el)
    elif kind == "input":
        assert 1 <= len(block["label"]["text"]) <= 2000, "input label"
        assert len(block.get("hint", {}).get("text", "")) <= 2000
        check_element(block["element"])
    # and slack_sdk's own model must accept it (it validates lengths in to_dict)
    parsed = Block.parse(block)
    assert parsed is not None
    parsed.to_dict()


def check_message(blocks: list[dict]) -> None:
    assert 1 <= len(blocks) <= 50, "blocks in a message"
    for block in blocks:
        check_block(block)


def check_modal(view: dict) -> None:
    assert view["type"] == "modal"
    assert 1 <= len(view["blocks"]) <= 100, "blocks in a modal"
    for key in ("title", "submit", "close"):
        if key in view:
            assert view[key]["type"] == "plain_text"
            assert 1 <= len(view[key]["text"]) <= 24, f"modal {key}"
    assert len(view.get("private_metadata", "")) <= 3000
    assert len(view["callback_id"]) <= 255
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block ids in a view must be unique"
    for block in view["blocks"]:
        check_block(block)
    View(**view).to_dict()


def assert_escaped(blocks) -> None:
    for text in mrkdwn_texts(blocks):
        assert "<!channel>" not in text
        assert "<@U999>" not in text
        assert "<b>" not in text


# --- notice --------------------------------------------------------------------------

def test_notice_text_names_token_and_date():
    text = notice_text(token(), "3d", NOW)
    assert "Amazon EU MWS token" in text
    assert "2026-12-01" in text
    assert "4 days left" in text


def test_notice_text_when_expired():
    t = token(expires_at=datetime(2026, 11, 20, tzinfo=UTC))
    text = notice_text(t, "expired", NOW)
    assert "Amazon EU MWS token" in text and "2026-11-20" in text and "expired" in text


def test_notice_blocks_have_slack_date_formatting_for_the_expiry():
    blocks = notice_blocks(token(), [account(1)], "3d", NOW)
    found = [m for t in mrkdwn_texts(blocks) for m in DATE_RE.finditer(t)]
    assert found
    assert int(found[0].group(1)) == int(EXPIRES.timestamp())
    assert found[0].group(2).startswith("2026-12-01")
    assert "2026-12-01" in all_text(blocks)


def _actions(blocks) -> list[dict]:
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert actions["block_id"] == ids.NOTICE_ACTIONS_BLOCK
    return actions["elements"]


def test_notice_has_renew_and_steps_buttons_with_token_id():
    buttons = _actions(notice_blocks(token(), [account(1, url=False)], "7d", NOW))
    by_action = {b["action_id"]: b for b in buttons}
    renew = by_action[ids.RENEW_BUTTON]
    assert renew["value"] == "amazon-eu-mws"
    assert renew["text"]["text"] == "Renew"
    steps = by_action[ids.STEPS_BUTTON]
    assert steps["text"]["text"] == "Renewal steps"
    assert steps["value"] == "amazon-eu-mws"
    assert ids.SETTINGS_BUTTON not in by_action  # no account has a settings_url


def test_notice_has_open_settings_only_when_an_account_has_a_settings_url():
    accounts = [account(1, url=False), account(2), account(3)]
    buttons = _actions(notice_blocks(token(), accounts, "7d", NOW))
    [settings] = [b for b in buttons if b["action_id"] == ids.SETTINGS_BUTTON]
    assert settings["text"]["text"] == "Open settings"
    assert settings["url"] == "https://commerce.example/accounts/amazon-2"
    no_accounts = _actions(notice_blocks(token(), [], "7d", NOW))
    assert ids.SETTINGS_BUTTON not in {b["action_id"] for b in no_accounts}


def test_notice_lists_accounts_and_days_left():
    text = all_text(notice_blocks(token(), [account(1), account(2, url=False)], "7d", NOW))
    assert "Amazon 1" in text and "Amazon 2" in text
    assert "amazon-eu-mws" in text
    assert "4 days left" in text


def test_expired_notice_says_so():
    t = token(expires_at=datetime(2026, 11, 20, tzinfo=UTC))
    blocks = notice_blocks(t, [account(1)], "expired", NOW)
    assert blocks[0]["type"] == "header"
    assert "expired" in blocks[0]["text"]["text"]
    check_message(blocks)


def test_notice_metadata_is_valid_message_metadata():
    md = notice_metadata(42, token(), "7d")
    assert md["event_type"] == ids.NOTICE_EVENT_TYPE
    assert md["event_payload"] == {"notice_id": 42, "token_id": "amazon-eu-mws", "stage": "7d"}
    Metadata(**md).to_dict()


def test_resolved_blocks_show_who_and_both_dates():
    blocks = resolved_blocks("Amazon EU MWS token", "U0RENEWER", EXPIRES, NEW_EXPIRY)
    text = all_text(blocks)
    assert "Amazon EU MWS token" in text
    assert "<@U0RENEWER>" in text
    assert "2026-12-01" in text and "2027-12-01" in text
    assert [int(m.group(1)) for t in mrkdwn_texts(blocks) for m in DATE_RE.finditer(t)] == [
        int(NEW_EXPIRY.timestamp())]
    check_message(blocks)


def test_resolved_text_names_token_and_dates():
    text = resolved_text("Amazon EU MWS token", EXPIRES, NEW_EXPIRY)
    assert "Amazon EU MWS token" in text and "2026-12-01" in text and "2027-12-01" in text


# --- modal ---------------------------------------------------------------------------

def _block(view: dict, block_id: str) -> dict:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return block


def _groups(view: dict, prefix: str) -> list[dict]:
    return [b for b in view["blocks"] if b.get("block_id", "").startswith(prefix)]


def test_modal_preselects_the_token():
    view = renew_modal(token=token(), accounts=[account(1)], today=TODAY)
    el = _block(view, ids.TOKEN_BLOCK)["element"]
    assert el["type"] == "external_select" and el["action_id"] == ids.TOKEN_SELECT
    assert el["initial_option"]["value"] == "amazon-eu-mws"
    assert view["callback_id"] == ids.RENEW_MODAL
    assert view["submit"]["text"]
    check_modal(view)


def test_modal_picker_keeps_the_chosen_token_when_over_100_choices():
    t = token(tid="tok-149", name="Token 149")
    el = _block(renew_modal(token=t, accounts=[], today=TODAY), ids.TOKEN_BLOCK)["element"]
    assert "options" not in el  # searched through the options load request, however many tokens there are
    assert el["initial_option"]["value"] == "tok-149"


def test_modal_has_a_secret_input():
    view = renew_modal(token=token(), accounts=[account(1)], today=TODAY)
    block = _block(view, ids.SECRET_BLOCK)
    assert block["type"] == "input"
    assert block["element"]["type"] == "plain_text_input"
    assert block["element"]["action_id"] == ids.SECRET_INPUT
    assert "initial_value" not in block["element"]


@pytest.mark.parametrize("kind", ["amazon-mws", "amazon-sp-api"])
def test_modal_date_defaults_to_a_year_for_amazon(kind):
    view = renew_modal(token=token(kind), accounts=[], today=TODAY)
    el = _block(view, ids.EXPIRY_BLOCK)["element"]
    assert el["type"] == "datepicker" and el["action_id"] == ids.EXPIRY_INPUT
    assert el["initial_date"] == "2027-11-26" == (TODAY + timedelta(days=365)).isoformat()


def test_modal_date_has_no_default_for_generic():
    view = renew_modal(token=token("generic"), accounts=[], today=TODAY)
    el = _block(view, ids.EXPIRY_BLOCK)["element"]
    assert el["type"] == "datepicker"
    assert "initial_date" not in el
    check_modal(view)


def test_default_expiry():
    assert default_expiry("amazon-mws", date(2026, 3, 1)) == date(2027, 3, 1)
    assert default_expiry("amazon-sp-api", TODAY) == TODAY + timedelta(days=365)
    assert default_expiry("generic", TODAY) is None


def test_modal_reenable_checkbox_per_account_all_ticked():
    accounts = [account(1), account(2, fetch_orders=False), account(3)]
    view = renew_modal(token=token(), accounts=accounts, today=TODAY)
    [group] = _groups(view, ids.REENABLE_BLOCK_PREFIX)
    assert group["block_id"] == "reenable:0"
    el = group["element"]
    assert el["type"] == "checkboxes"
    assert [o["value"] for o in el["options"]] == ["amazon-1", "amazon-2", "amazon-3"]
    assert [o["text"]["text"] for o in el["options"]] == ["Amazon 1", "Amazon 2", "Amazon 3"]
    assert el["initial_options"] == el["options"]


def test_modal_nofetch_preset_to_accounts_not_fetching_orders():
    accounts = [account(1), account(2, fetch_orders=False), account(3), account(4, fetch_orders=False)]
    view = renew_modal(token=token(), accounts=accounts, today=TODAY)
    [group] = _groups(view, ids.NOFETCH_BLOCK_PREFIX)
    assert group["block_id"] == "nofetch:0"
    el = group["element"]
    assert [o["value"] for o in el["options"]] == ["amazon-1", "amazon-2", "amazon-3", "amazon-4"]
    assert [o["value"] for o in el["initial_options"]] == ["amazon-2", "amazon-4"]
    assert "Don't fetch orders" in group["label"]["text"]


def test_modal_nofetch_has_no_initial_options_when_all_fetch():
    view = renew_modal(token=token(), accounts=[account(1), account(2)], today=TODAY)
    [group] = _groups(view, ids.NOFETCH_BLOCK_PREFIX)
    assert not group["element"].get("initial_options")
    check_modal(view)


def test_modal_shows_a_provider_reminder_and_current_expiry():
    view = renew_modal(token=token(), accounts=[account(1)], today=TODAY)
    text = all_text(view["blocks"])
    assert "log out of all Amazon seller accounts" in text
    assert "532089569783" in text
    assert "2026-12-01" in text


def test_modal_without_token_has_only_the_picker_and_no_submit():
    view = renew_modal(token=None, accounts=[account(1)], today=TODAY)
    assert "submit" not in view
    input_blocks = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in input_blocks] == [ids.TOKEN_BLOCK]
    assert "initial_option" not in input_blocks[0]["element"]
    assert ModalState.load(view["private_metadata"]) == ModalState()
    check_modal(view)


def test_modal_without_any_tokens_still_has_a_valid_select():
    view = renew_modal(token=None, accounts=[], today=TODAY)
    check_modal(view)


def test_modal_with_more_than_10_accounts_splits_checkboxes():
    accounts = [account(i, fetch_orders=(i % 4 != 0)) for i in range(23)]
    view = renew_modal(token=token(), accounts=accounts, today=TODAY)
    reenable = _groups(view, ids.REENABLE_BLOCK_PREFIX)
    nofetch = _groups(view, ids.NOFETCH_BLOCK_PREFIX)
    assert [b["block_id"] for b in reenable] == ["reenable:0", "reenable:1", "reenable:2"]
    assert [b["block_id"] for b in nofetch] == ["nofetch:0", "nofetch:1", "nofetch:2"]
    assert [len(b["element"]["options"]) for b in reenable] == [10, 10, 3]
    assert [o["value"] for b in reenable for o in b["element"]["options"]] == [a.id for a in accounts]
    assert [o["value"] for b in reenable for o in b["element"]["initial_options"]] == [a.id for a in accounts]
    assert [o["value"] for b in nofetch for o in b["element"].get("initial_options", [])] == [
        a.id for a in accounts if not a.fetch_orders]
    check_modal(view)


def test_modal_private_metadata_round_trips():
    view = renew_modal(token=token(version=7), accounts=[], today=TODAY, channel="C0123ALERTS")
    assert ModalState.load(view["private_metadata"]) == ModalState("amazon-eu-mws", 7, "C0123ALERTS")


@pytest.mark.parametrize("raw", [None, "", "not json", "[]", "null", "42", '{"token_id": 5}',
                                 '{"token_id": "t", "version": "2"}', '{"token_id": ["t"]}'])
def test_modal_state_load_tolerates_garbage(raw):
    assert ModalState.load(raw) == ModalState()


def test_modal_state_load_drops_a_non_text_channel_only():
    assert ModalState.load('{"token_id": "t", "version": 2, "channel": 9}') == ModalState("t", 2, None)


# --- runbook ----------------------------------------------------------------------------

def test_mws_runbook_names_app_and_says_log_out_of_all_seller_accounts():
    blocks = runbook_blocks(token("amazon-mws", app_id="532089569783"))
    text = all_text(blocks)
    assert "532089569783" in text
    assert re.search(r"log out of (every|all)\b[^.]*seller account", text, re.IGNORECASE)
    assert "Amazon EU MWS token" in text
    assert "Manage Your Apps" in text
    check_message(blocks)


def test_runbook_steps_are_numbered_and_mws_logs_out_first():
    steps = runbook_steps(token("amazon-mws"))
    assert "log out" in steps[0].lower()
    text = all_text(runbook_blocks(token("amazon-mws")))
    for n in range(1, len(steps) + 1):
        assert f"\n{n}. " in text or text.startswith(f"{n}. ")


def test_sp_api_runbook_mentions_the_refresh_token_prefix():
    text = all_text(runbook_blocks(token("amazon-sp-api", app_id="amzn1.sp.solution.abc")))
    assert "Atzr|" in text
    assert "amzn1.sp.solution.abc" in text


def test_runbook_without_app_id_still_says_which_app():
    steps = " ".join(runbook_steps(token("amazon-mws", app_id=None)))
    assert "None" not in steps
    assert "the app your team uses" in steps


def test_provider_reminder_per_kind():
    assert "log out of all Amazon seller accounts" in provider_reminder(token("amazon-mws"))
    assert "532089569783" in provider_reminder(token("amazon-mws"))
    assert "Re-authorise" in provider_reminder(token("amazon-sp-api"))
    assert "provider" in provider_reminder(token("generic", app_id=None))


def test_runbook_text_names_token_and_date():
    text = runbook_text(token())
    assert "Amazon EU MWS token" in text and "2026-12-01" in text


# --- messages ---------------------------------------------------------------------------

def test_confirmation_text_names_token_and_both_dates():
    text = confirmation_text(outcome())
    assert "Amazon EU MWS token" in text
    assert "2026-12-01" in text and "2027-12-01" in text
    assert "Amazon 1" in text  # re-enabled
    assert "<@U0RENEWER>" in text


def test_confirmation_blocks_show_old_and_new_expiry_and_flags():
    blocks = confirmation_blocks(outcome())
    text = all_text(blocks)
    assert "2026-12-01" in text and "2027-12-01" in text
    assert text.index("2026-12-01") < text.index("2027-12-01")
    assert "<@U0RENEWER>" in text
    assert re.search(r"Amazon 1 \(enabled, fetching orders\) — re-enabled", text)
    assert re.search(r"Amazon 2 \(still disabled, don't fetch orders\)(?! — re-enabled)", text)
    assert [int(m.group(1)) for t in mrkdwn_texts(blocks) for m in DATE_RE.finditer(t)] == [
        int(NEW_EXPIRY.timestamp())]
    check_message(blocks)


def test_not_allowed_text_mentions_users_and_groups_and_escapes_name():
    text = not_allowed_text(EVIL, ["U0123OWNER", "S0123GROUP", "W0ENTERPRISE"])
    assert "<@U0123OWNER>" in text
    assert "<!subteam^S0123GROUP>" in text
    assert "<@W0ENTERPRISE>" in text
    assert "<!channel>" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt;" in text


def test_unknown_token_text_suggests_matches_or_the_picker():
    text = unknown_token_text("amazon-eu", ["amazon-eu-mws", "amazon-eu-sp-api"])
    assert "amazon-eu-mws" in text and "amazon-eu-sp-api" in text and "Did you mean" in text
    text = unknown_token_text("zzz", [])
    assert "zzz" in text and "/renew-token" in text


def test_unknown_token_text_escapes_and_clips_the_reference():
    text = unknown_token_text(LONG_EVIL, [EVIL])
    assert "<!channel>" not in text and "<@U999>" not in text
    assert len(text) < 600


# --- limits and escaping with adversarial input -----------------------------------------

def evil_token(kind: str) -> Token:
    return token(kind, name=LONG_EVIL, tid="t" * 150, app_id=LONG_EVIL)


def evil_accounts(n: int = 60) -> list[Account]:
    return [Account(id=f"a{i:03d}-" + "y" * 140, name=LONG_EVIL, enabled=(i % 2 == 0),
                    fetch_orders=(i % 3 == 0), settings_url=f"https://commerce.example/{i}/" + "u" * 200)
            for i in range(n)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stage", ["30d", "1d", "expired"])
def test_notice_stays_within_limits_and_escapes(kind, stage):
    blocks = notice_blocks(evil_token(kind), evil_accounts(), stage, NOW)
    check_message(blocks)
    assert_escaped(blocks)
    assert "&lt;!channel&gt;" in mrkdwn_texts(blocks)[0]


def test_notice_escapes_account_names_inside_links():
    blocks = notice_blocks(token(), [account(1, name=EVIL)], "7d", NOW)
    assert_escaped(blocks)
    assert "|&lt;!channel&gt;" in all_text(blocks)


@pytest.mark.parametrize("kind", KINDS)
def test_modal_stays_within_limits_with_adversarial_input(kind):
    view = renew_modal(token=evil_token(kind), accounts=evil_accounts(), today=TODAY,
                       channel="C0123ALERTS")
    check_modal(view)
    assert_escaped(view["blocks"])
    # 60 accounts: past the checkbox groups, the searchable form.
    assert not _groups(view, ids.REENABLE_BLOCK_PREFIX) and not _groups(view, ids.NOFETCH_BLOCK_PREFIX)
    assert {ids.REENABLE_ALL_BLOCK, ids.REENABLE_SELECT_BLOCK, ids.NOFETCH_SELECT_BLOCK} <= {
        b.get("block_id") for b in view["blocks"]}
    grouped = renew_modal(token=evil_token(kind), accounts=evil_accounts(40), today=TODAY, channel="C0123ALERTS")
    check_modal(grouped)
    assert_escaped(grouped["blocks"])
    assert len(_groups(grouped, ids.REENABLE_BLOCK_PREFIX)) == 4
    assert len(_groups(grouped, ids.NOFETCH_BLOCK_PREFIX)) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_runbook_stays_within_limits_and_escapes(kind):
    blocks = runbook_blocks(evil_token(kind))
    check_message(blocks)
    assert_escaped(blocks)
    # short names are shown whole and escaped
    small = runbook_blocks(token(kind, name=EVIL, app_id=EVIL))
    assert_escaped(small)
    assert "&lt;!channel&gt;" in all_text(small)


def test_resolved_blocks_stay_within_limits_and_escape():
    blocks = resolved_blocks(LONG_EVIL, "U0RENEWER", EXPIRES, NEW_EXPIRY)
    check_message(blocks)
    assert_escaped(blocks)


def test_confirmation_blocks_stay_within_limits_and_escape():
    blocks = confirmation_blocks(outcome(name=LONG_EVIL, accounts=evil_accounts()))
    check_message(blocks)
    assert_escaped(blocks)
    small = confirmation_blocks(outcome(name=EVIL, accounts=[account(1, name=EVIL)]))
    assert_escaped(small)
    assert all_text(small).count("&lt;!channel&gt;") == 2


# The top-level `text` of chat.postMessage / chat.update is parsed as mrkdwn by Slack
# (the `mrkdwn` argument defaults to true), and it is what notifications show: a name
# taken raw from the import file can turn into an @channel mention there.
TOP_LEVEL_TEXTS = [
    pytest.param(lambda: notice_text(token(name=EVIL), "7d", NOW), id="notice_text"),
    pytest.param(lambda: notice_text(token(name=EVIL), "expired", NOW), id="notice_text-expired"),
    pytest.param(lambda: resolved_text(EVIL, EXPIRES, NEW_EXPIRY), id="resolved_text"),
    pytest.param(lambda: runbook_text(token(name=EVIL)), id="runbook_text"),
    pytest.param(lambda: confirmation_text(outcome(name=EVIL, accounts=[account(1, name=EVIL)])),
                 id="confirmation_text"),
]


@pytest.mark.parametrize("build", TOP_LEVEL_TEXTS)
def test_top_level_texts_escape_names(build):
    text = build()
    assert "<!channel>" not in text
    assert "<@U999>" not in text


def test_notice_account_link_cannot_smuggle_markup_through_the_url():
    acc = Account(id="amazon-uk", name="Amazon UK", settings_url="https://commerce.example/x?<!channel>")
    blocks = notice_blocks(token(), [acc], "7d", NOW)
    assert_escaped(blocks)


@pytest.mark.parametrize("kind, hint", [
    ("amazon-mws", "amzn.mws.xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
    ("amazon-sp-api", "Atzr|…"),
    ("generic", "the new secret, no spaces"),
    ("shipping-api-key", "the new secret, no spaces"),  # an unknown kind gets the generic hint
])
def test_modal_secret_placeholder_shows_the_kinds_shape(kind, hint):
    view = renew_modal(token=token(kind), accounts=[account(1)], today=TODAY)
    assert _block(view, ids.SECRET_BLOCK)["element"]["placeholder"]["text"] == hint
