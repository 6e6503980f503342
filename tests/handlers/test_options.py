"""Options loads (block_suggestion) over signed HTTP, and the renewal form for a token with hundreds of accounts."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from renewbot.blocks import ids
from storage.db import session_scope
from storage.models import Account, Renewal
from tests.conftest import NOW
from tests.support.seed import account, seed, token
from tests.support.slack_requests import block_suggestion_payload, form_payload_body, state_values

OWNER, STRANGER, GUEST, MEMBER = "U0OWNER", "U0STRANGER", "U0GUEST", "U0MEMBER"


def ask(bot, view: dict | None, typed: str, *, user: str = OWNER, action_id: str = ids.TOKEN_SELECT,
        block_id: str = ids.TOKEN_BLOCK) -> list[dict]:
    status, _, body = bot.post(form_payload_body(block_suggestion_payload(
        action_id=action_id, block_id=block_id, value=typed, view=view, user_id=user)))
    assert status == 200
    return json.loads(body)["options"]


def values(options: list[dict]) -> list[str]:
    return [o["value"] for o in options]


def bare_picker(slack, bot, *, user: str = OWNER) -> dict:
    bot.command("", user=user)
    slack.wait_for("views.open")
    return list(slack.views.values())[-1]


def seed_many(engine):
    seed(engine, now=NOW, tokens=[
        token("eu-sp", NOW + timedelta(days=30), name="Amazon EU SP-API authorization", owners=[OWNER]),
        token("us-sp", NOW + timedelta(days=30), name="Amazon US SP-API authorization", owners=[OWNER]),
        token("eu-lwa", NOW + timedelta(days=30), name="Amazon EU LWA secret", owners=["U0SOMEONE"]),
        token("ship", NOW + timedelta(days=30), name="Shipping 100% key_v2", owners=[]),  # its channel's members
        token("ship2", NOW + timedelta(days=30), name="Shipping 100 keyXv2", owners=[]),
        token("everyone", NOW + timedelta(days=30), name="Public status key", owners=["*"]),
        token("gone", NOW + timedelta(days=30), name="Amazon EU retired", owners=[OWNER], retired=True),
    ])


# --- the token picker ---------------------------------------------------------------------------

def test_token_options_follow_what_is_typed(engine, slack, bot):
    seed_many(engine)
    view = bare_picker(slack, bot)
    assert values(ask(bot, view, "")) == ["eu-sp", "us-sp", "everyone"]  # name order, only what they may renew
    assert values(ask(bot, view, "amazon eu")) == ["eu-sp"]  # name prefix, any case, never a retired token
    assert values(ask(bot, view, "us-")) == ["us-sp"]  # id prefix
    assert values(ask(bot, view, "SP-API")) == ["eu-sp", "us-sp"]  # anywhere in the name
    assert values(ask(bot, view, "nothing like it")) == []
    (option,) = ask(bot, view, "amazon eu")
    assert option == {"text": {"type": "plain_text", "text": "Amazon EU SP-API authorization (eu-sp)",
                               "emoji": True}, "value": "eu-sp"}


def test_token_options_depend_on_who_asks(engine, slack, bot):
    seed_many(engine)
    slack.channel_members["C0ALERTS"] = [MEMBER, GUEST]
    slack.guest(GUEST)
    view = bare_picker(slack, bot)
    assert values(ask(bot, view, "", user=OWNER)) == ["eu-sp", "us-sp", "everyone"]
    # A member of the channel: the tokens without owners, and the one for every full member.
    assert values(ask(bot, view, "", user=MEMBER)) == ["everyone", "ship2", "ship"]
    assert values(ask(bot, view, "", user=STRANGER)) == ["everyone"]
    assert values(ask(bot, view, "", user=GUEST)) == []  # guests only where named


def test_like_wildcards_are_matched_literally(engine, slack, bot):
    seed_many(engine)
    slack.channel_members["C0ALERTS"] = [MEMBER]
    view = bare_picker(slack, bot, user=MEMBER)
    assert values(ask(bot, view, "shipping 100%", user=MEMBER)) == ["ship"]
    assert values(ask(bot, view, "key_v", user=MEMBER)) == ["ship"]  # "_" is not "any character"
    assert values(ask(bot, view, "%", user=MEMBER)) == ["ship"]
    assert values(ask(bot, view, "_", user=MEMBER)) == ["ship"]


def test_at_most_100_options(engine, slack, bot):
    seed(engine, now=NOW, tokens=[token(f"t{i:03d}", NOW + timedelta(days=30), name=f"Token {i:03d}",
                                        owners=[OWNER]) for i in range(130)])
    view = bare_picker(slack, bot)
    assert values(ask(bot, view, "")) == [f"t{i:03d}" for i in range(100)]
    assert values(ask(bot, view, "token 12")) == [f"t12{i}" for i in range(10)]


def test_a_person_who_may_renew_few_of_many_matches_still_finds_theirs(engine, slack, bot):
    seed(engine, now=NOW, tokens=[
        *[token(f"o{i:03d}", NOW + timedelta(days=30), name=f"Amazon {i:03d}", owners=["U0SOMEONE"])
          for i in range(400)],
        token("mine", NOW + timedelta(days=30), name="Amazon 999", owners=[OWNER])])
    view = bare_picker(slack, bot)
    assert values(ask(bot, view, "amazon")) == ["mine"]  # past the first page of candidates


# --- account options ----------------------------------------------------------------------------

def large_token(engine, n: int = 500, *, no_fetch: set[int] = frozenset()):
    seed(engine, now=NOW,
         accounts=[account(f"acc-{i:03d}", name=f"Shop {i:03d}", enabled=False, fetch_orders=i not in no_fetch)
                   for i in range(n)] + [account("other-acc", name="Shop other", enabled=False)],
         tokens=[token("big", NOW + timedelta(days=3), kind="generic", name="Big token", owners=[OWNER],
                       accounts=[f"acc-{i:03d}" for i in range(n)]),
                 token("small", NOW + timedelta(days=3), kind="generic", owners=[OWNER], accounts=["other-acc"])])


def open_big(slack, bot) -> dict:
    bot.command("big")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    return view


def test_account_options_are_the_forms_tokens_accounts_only(engine, slack, bot):
    large_token(engine)
    view = open_big(slack, bot)
    found = ask(bot, view, "shop", action_id=ids.ACCOUNTS_SELECT, block_id=ids.REENABLE_SELECT_BLOCK)
    assert values(found) == [f"acc-{i:03d}" for i in range(100)]  # in the token's order, 100 at most
    assert values(ask(bot, view, "shop 12", action_id=ids.ACCOUNTS_SELECT, block_id=ids.NOFETCH_SELECT_BLOCK)) == [
        f"acc-{i}" for i in range(120, 130)]
    assert values(ask(bot, view, "acc-499", action_id=ids.ACCOUNTS_SELECT)) == ["acc-499"]
    assert ask(bot, view, "other", action_id=ids.ACCOUNTS_SELECT) == []  # another token's account
    assert found[0]["text"]["text"] == "Shop 000 (acc-000)"


def test_account_options_from_the_add_form_list_every_account_in_service(engine, slack, bot):
    large_token(engine, 3)
    add_view = {"id": "VADD", "type": "modal", "callback_id": ids.ADD_MODAL, "private_metadata": "",
                "blocks": []}
    found = ask(bot, add_view, "shop", action_id=ids.ACCOUNTS_SELECT, block_id=ids.ADD_ACCOUNTS_BLOCK)
    assert values(found) == ["acc-000", "acc-001", "acc-002", "other-acc"]


# --- the renewal form for a token with 500 accounts ---------------------------------------------

def flags(engine) -> dict[str, tuple[bool, bool]]:
    with session_scope(engine) as s:
        return {a.id: (a.enabled, a.fetch_orders) for a in s.exec(select(Account)).all()}


def test_500_accounts_submitted_as_shown_re_enables_them_all(engine, slack, bot):
    large_token(engine, no_fetch={3, 250})
    view = open_big(slack, bot)
    assert len(view["blocks"]) <= 10
    status, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"}}))
    assert status == 200 and answer is None
    after = flags(engine)
    assert all(after[f"acc-{i:03d}"] == (True, i not in (3, 250)) for i in range(500))
    assert after["other-acc"] == (False, True)
    with session_scope(engine) as s:
        (renewal,) = s.exec(select(Renewal)).all()
        assert sum(a["reenabled"] for a in renewal.accounts) == 500


def test_500_accounts_with_an_explicit_pick(engine, slack, bot):
    large_token(engine, no_fetch={3})
    view = open_big(slack, bot)
    picked = ask(bot, view, "acc-01", action_id=ids.ACCOUNTS_SELECT, block_id=ids.REENABLE_SELECT_BLOCK)[:2]
    stop = ask(bot, view, "acc-499", action_id=ids.ACCOUNTS_SELECT, block_id=ids.NOFETCH_SELECT_BLOCK)
    status, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"},
        ids.REENABLE_ALL_BLOCK: {"selected_options": []},
        ids.REENABLE_SELECT_BLOCK: {"selected_options": picked},
        ids.NOFETCH_SELECT_BLOCK: {"selected_options": stop}}))  # acc-003 removed from the list
    assert status == 200 and answer is None
    after = flags(engine)
    assert {a for a, (enabled, _) in after.items() if enabled} == {"acc-010", "acc-011"}
    assert {a for a, (_, fetch) in after.items() if not fetch} == {"acc-499"}


def test_500_accounts_refuses_a_foreign_account_and_a_contradiction_and_changes_nothing(engine, slack, bot):
    large_token(engine)
    view = open_big(slack, bot)
    before = flags(engine)
    foreign = {"text": {"type": "plain_text", "text": "Shop other"}, "value": "other-acc"}
    _, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"},
        ids.REENABLE_SELECT_BLOCK: {"selected_options": [foreign]}}))
    assert answer["errors"][ids.REENABLE_SELECT_BLOCK] == "Not an account of this token: other-acc. Remove it."
    mine = {"text": {"type": "plain_text", "text": "Shop 001"}, "value": "acc-001"}
    _, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"},
        ids.REENABLE_SELECT_BLOCK: {"selected_options": [mine]}}))  # "all" still ticked
    assert "Untick" in answer["errors"][ids.REENABLE_SELECT_BLOCK]
    assert flags(engine) == before
    with session_scope(engine) as s:
        assert s.exec(select(Renewal)).all() == []


def test_more_than_100_no_fetch_accounts_keep_their_flag(engine, slack, bot):
    large_token(engine, 300, no_fetch=set(range(150)))
    view = open_big(slack, bot)
    nofetch = next(b for b in view["blocks"] if b.get("block_id") == ids.NOFETCH_SELECT_BLOCK)
    shown = nofetch["element"]["initial_options"]
    assert values(shown) == [f"acc-{i:03d}" for i in range(100)]
    status, answer = bot.submit(view, state_values(view, {
        ids.SECRET_BLOCK: {"value": "new-secret-value"}, ids.EXPIRY_BLOCK: {"selected_date": "2027-06-01"},
        ids.NOFETCH_SELECT_BLOCK: {"selected_options": shown[1:]}}))  # acc-000 taken off the list
    assert status == 200 and answer is None
    after = flags(engine)
    assert {a for a, (_, fetch) in after.items() if not fetch} == {f"acc-{i:03d}" for i in range(1, 150)}
