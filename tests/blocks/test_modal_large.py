"""The renewal form at any number of accounts: within Slack's limits, and read back the same on submit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from handlers.payload import read_submission
from renewbot.blocks import ids
from renewbot.blocks.modal import MAX_GROUPED_ACCOUNTS, renew_modal
from renewbot.domain.validation import RenewalForm, validate_renewal
from renewbot.errors import RenewalRejected
from storage.models import Account, Token
from tests.blocks.test_builders import check_modal
from tests.support.slack_requests import state_values, view_submission_payload

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)


def tok() -> Token:
    return Token(id="big", kind="generic", name="Big token", expires_at=EXPIRES,
                 notify_from=EXPIRES - timedelta(days=30), channel="C0123ALERTS", owners=["U0OWNER"], version=2)


def accounts(n: int, no_fetch=lambda i: i % 7 == 0) -> list[Account]:
    return [Account(id=f"acc-{i:04d}", name=f"Shop {i:04d}", enabled=False, fetch_orders=not no_fetch(i))
            for i in range(n)]


def block_ids(view: dict) -> list[str]:
    return [b.get("block_id", b["type"]) for b in view["blocks"]]


@pytest.mark.parametrize("n, expected", [
    (0, 5), (1, 6), (10, 6), (40, 12),  # checkbox groups: 4 fixed blocks + 2 per 10 accounts
    (41, 7), (500, 7), (5000, 8),  # the searchable form; at 5,000 a line says the no-fetch list is cut
])
def test_block_counts_stay_far_below_100(n, expected):
    view = renew_modal(token=tok(), accounts=accounts(n), today=TODAY)
    check_modal(view)
    assert len(view["blocks"]) == expected


def test_forty_accounts_are_checkbox_groups_and_forty_one_the_searchable_form():
    grouped = block_ids(renew_modal(token=tok(), accounts=accounts(MAX_GROUPED_ACCOUNTS), today=TODAY))
    assert [b for b in grouped if b.startswith(("reenable:", "nofetch:"))] == [
        *(f"reenable:{n}" for n in range(4)), *(f"nofetch:{n}" for n in range(4))]
    large = renew_modal(token=tok(), accounts=accounts(MAX_GROUPED_ACCOUNTS + 1), today=TODAY)
    assert block_ids(large)[4:] == [ids.REENABLE_ALL_BLOCK, ids.REENABLE_SELECT_BLOCK, ids.NOFETCH_SELECT_BLOCK]


def test_the_searchable_form_exactly():
    view = renew_modal(token=tok(), accounts=accounts(41, no_fetch=lambda i: i in (3, 40)), today=TODAY)
    everything = {"text": {"type": "plain_text", "text": "Re-enable all 41 accounts", "emoji": True}, "value": "all"}
    search = {"type": "plain_text", "text": "Type to search this token's 41 accounts", "emoji": True}
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id[ids.REENABLE_ALL_BLOCK]["element"] == {
        "type": "checkboxes", "action_id": ids.ACCOUNTS_INPUT, "options": [everything],
        "initial_options": [everything]}
    assert by_id[ids.REENABLE_SELECT_BLOCK]["element"] == {
        "type": "multi_external_select", "action_id": ids.ACCOUNTS_SELECT, "min_query_length": 0,
        "placeholder": search}
    assert by_id[ids.NOFETCH_SELECT_BLOCK]["element"]["initial_options"] == [
        {"text": {"type": "plain_text", "text": "Shop 0003 (acc-0003)", "emoji": True}, "value": "acc-0003"},
        {"text": {"type": "plain_text", "text": "Shop 0040 (acc-0040)", "emoji": True}, "value": "acc-0040"}]
    assert all(by_id[b]["optional"] for b in (ids.REENABLE_ALL_BLOCK, ids.REENABLE_SELECT_BLOCK,
                                               ids.NOFETCH_SELECT_BLOCK))


def test_more_than_100_no_fetch_accounts_show_100_and_say_the_rest_keep_their_setting():
    view = renew_modal(token=tok(), accounts=accounts(500, no_fetch=lambda i: i < 130), today=TODAY)
    nofetch = next(b for b in view["blocks"] if b.get("block_id") == ids.NOFETCH_SELECT_BLOCK)
    assert len(nofetch["element"]["initial_options"]) == 100
    assert view["blocks"][-1]["elements"][0]["text"].startswith("30 more of these accounts don't fetch orders")
    few = renew_modal(token=tok(), accounts=accounts(500, no_fetch=lambda i: False), today=TODAY)
    nofetch = next(b for b in few["blocks"] if b.get("block_id") == ids.NOFETCH_SELECT_BLOCK)
    assert "initial_options" not in nofetch["element"]


# --- submitted back: read (handlers/payload.py) and judged (renewbot/domain/validation.py) ----------

def submitted(view: dict, overrides: dict | None = None) -> RenewalForm:
    values = state_values(view, {ids.SECRET_BLOCK: {"value": "new-secret"},
                                 ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"}, **(overrides or {})})
    read = read_submission(view_submission_payload(view=view, values=values, user_id="U0OWNER"))
    assert read is not None
    return read.form


def judge(form: RenewalForm, served: list[Account]):
    return validate_renewal(form, token_id="big", version=2, kind="generic", current_expiry=EXPIRES,
                            account_ids=[a.id for a in served], now=NOW)


def opt(account_id: str) -> dict:
    return {"text": {"type": "plain_text", "text": account_id}, "value": account_id}


def test_the_defaults_re_enable_everything_and_keep_every_flag():
    served = accounts(500, no_fetch=lambda i: i < 130)
    view = renew_modal(token=tok(), accounts=served, today=TODAY)
    form = submitted(view)
    assert form.large and form.reenable_all is True and len(form.no_fetch_shown) == 100
    now = frozenset(a.id for a in served if not a.fetch_orders)
    sub = judge(replace(form, no_fetch_now=now), served)
    assert sub.reenable == {a.id for a in served}
    assert sub.no_fetch == now  # the 30 the list did not show keep "Don't fetch orders"


def test_only_the_picked_ones_when_all_is_unticked():
    served = accounts(50)
    view = renew_modal(token=tok(), accounts=served, today=TODAY)
    sub = judge(submitted(view, {ids.REENABLE_ALL_BLOCK: {"selected_options": []},
                                 ids.REENABLE_SELECT_BLOCK: {"selected_options": [opt("acc-0001")]},
                                 ids.NOFETCH_SELECT_BLOCK: {"selected_options": [opt("acc-0002")]}}), served)
    assert sub.reenable == {"acc-0001"} and sub.no_fetch == {"acc-0002"}
    none = judge(submitted(view, {ids.REENABLE_ALL_BLOCK: {"selected_options": []}}), served)
    assert none.reenable == frozenset()


def test_foreign_ids_unreadable_lists_and_contradictions_are_errors():
    served = accounts(50)
    view = renew_modal(token=tok(), accounts=served, today=TODAY)
    with pytest.raises(RenewalRejected) as exc:
        judge(submitted(view, {ids.REENABLE_SELECT_BLOCK: {"selected_options": [opt("acc-0001")]},
                               ids.NOFETCH_SELECT_BLOCK: {"selected_options": [opt(f"x{i}") for i in range(5)]}}),
              served)
    assert exc.value.errors == {
        ids.REENABLE_SELECT_BLOCK: ("Untick “Re-enable all” to re-enable only these accounts, "
                                    "or empty this list to re-enable them all."),
        ids.NOFETCH_SELECT_BLOCK: "Not an account of this token: x0, x1, x2 and 2 more. Remove it."}
    with pytest.raises(RenewalRejected) as exc:
        judge(submitted(view, {ids.REENABLE_ALL_BLOCK: {"selected_options": "all"},
                               ids.NOFETCH_SELECT_BLOCK: {"selected_options": [{"value": 3}]}}), served)
    assert set(exc.value.errors) == {ids.REENABLE_ALL_BLOCK, ids.NOFETCH_SELECT_BLOCK}
