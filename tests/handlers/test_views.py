"""Submitting the renewal modal: every refusal is inline and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from renewbot.blocks import ids
from storage.db import session_scope
from storage.models import Renewal, Token
from tests.conftest import NOW
from tests.support.bot_server import settle
from tests.support.seed import seed, token
from tests.support.slack_requests import state_values


def open_form(engine, slack, bot, *, kind="amazon-sp-api", owners=("U0OWNER",)):
    seed(engine, now=NOW, tokens=[token("sp", NOW + timedelta(days=3), kind=kind, owners=list(owners))])
    bot.command("sp")
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    return view


def unchanged(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, "sp")
        return (tok.expires_at if tok else None, tok.secret_encrypted if tok else None,
                tok.version if tok else None, len(s.exec(select(Renewal)).all()))


@pytest.mark.parametrize("secret,fragment", [
    ("Atza|access-token-not-refresh", "starts with Atzr|"),
    ("", "Paste the new token"),
    ("Atzr|" + "x" * 3000, "longer than 3000"),
])
def test_bad_secret_is_answered_on_its_field(engine, slack, bot, secret, fragment):
    view = open_form(engine, slack, bot)
    before = unchanged(engine)
    status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": secret}}))
    assert status == 200 and answer["response_action"] == "errors"
    assert fragment in answer["errors"][ids.SECRET_BLOCK]
    assert secret[5:] not in answer["errors"][ids.SECRET_BLOCK] or not secret[5:]
    assert unchanged(engine) == before


def test_expiry_must_be_later_than_the_current_one(engine, slack, bot):
    view = open_form(engine, slack, bot)
    _status, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|abc"},
                                                          ids.EXPIRY_BLOCK: {"selected_date": "2026-11-28"}}))
    assert "later than the current one (2026-11-29)" in answer["errors"][ids.EXPIRY_BLOCK]


def test_submitter_who_lost_ownership_is_refused_inline(engine, slack, bot):
    view = open_form(engine, slack, bot)
    with session_scope(engine) as s:
        s.get(Token, "sp").owners = ["U0SOMEONE"]
    before = unchanged(engine)
    _, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|abc"}}))
    assert "owners" in answer["errors"][ids.TOKEN_BLOCK]
    assert unchanged(engine) == before


def test_token_deleted_since_the_form_opened(engine, slack, bot):
    view = open_form(engine, slack, bot)
    with session_scope(engine) as s:
        s.delete(s.get(Token, "sp"))
    _, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|abc"}}))
    assert "no longer exists" in answer["errors"][ids.TOKEN_BLOCK]


def test_corrupted_private_metadata_changes_nothing(engine, slack, bot):
    view = open_form(engine, slack, bot)
    before = unchanged(engine)
    broken = {**view, "private_metadata": "{not json"}
    status, answer = bot.submit(broken, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|abc"}}))
    assert status == 200 and ids.TOKEN_BLOCK in answer["errors"]
    assert unchanged(engine) == before


def test_a_form_opened_before_another_renewal_is_refused(engine, slack, bot):
    view = open_form(engine, slack, bot)
    first, _ = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|first"}}))
    assert first == 200
    slack.wait_for("chat.postMessage")
    after_first = unchanged(engine)
    _, answer = bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": "Atzr|second"},
                                                      ids.EXPIRY_BLOCK: {"selected_date": "2028-01-01"}}))
    assert "changed while your form was open" in answer["errors"][ids.SECRET_BLOCK]
    assert unchanged(engine) == after_first
    settle()
    assert len(slack.calls_to("chat.postMessage")) == 1
