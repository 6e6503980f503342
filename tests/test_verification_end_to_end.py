"""Verification through the real HTTP bot: notice -> Renew -> submit, against the LWA stand-in.

A refused refresh token is an inline error with nothing saved; an accepted one is confirmed in the thread as
verified; a slow LWA still answers the submission inside Slack's 3 s and the thread says it could not be verified.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.runtime.deps import Deps
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.verify import DEADLINE_SECONDS, HttpVerifier
from storage.db import session_scope
from storage.models import Renewal, Token
from tests.conftest import NOW
from tests.support.bot_server import BotServer, standin_settings
from tests.support.lwa import CLIENT_ID, CLIENT_SECRET, IssuerStandin
from tests.support.seed import account, seed, token
from tests.support.slack_requests import state_values

REFRESH = "Atzr|IwEBIEndToEndRefresh-0123456789abcdef"
REVOKED = "Atzr|IwEBIEndToEndRevoked-fedcba9876543210"
SLACK_WINDOW = 3.0


@pytest.fixture
def issuer():
    with IssuerStandin(refresh_tokens={REFRESH}) as standin:
        yield standin


@pytest.fixture
def lwa_bot(slack, deps, issuer):
    verifier = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET)
    with BotServer(standin_settings(slack.url), Deps(engine=deps.engine, box=deps.box, clock=deps.clock,
                                                     verifier=verifier), slack) as server:
        yield server


def open_form(engine, slack, bot) -> tuple[dict, dict]:
    seed(engine, now=NOW, accounts=[account("amazon-uk", name="Amazon UK", enabled=False)],
         tokens=[token("amazon-eu-sp", NOW + timedelta(days=5), kind="amazon-sp-api", name="Amazon EU SP-API",
                       accounts=["amazon-uk"], owners=["U0OWNER"], app_id="amzn1.sp.solution.x")])
    scan(engine=engine, client=make_client("xoxb-test", slack.url), now=NOW)
    notice = slack.messages["C0ALERTS"][0]
    assert bot.click(ids.RENEW_BUTTON, "amazon-eu-sp", message=notice) == 200
    slack.wait_for("views.open")
    (view,) = slack.views.values()
    return notice, view


def saved(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, "amazon-eu-sp")
        return tok.version, tok.secret_encrypted, [r.verification for r in s.exec(select(Renewal))]


def test_invalid_grant_is_inline_then_a_good_token_is_confirmed_as_verified(engine, slack, lwa_bot, issuer, caplog):
    caplog.set_level(logging.DEBUG)
    notice, view = open_form(engine, slack, lwa_bot)
    before = saved(engine)

    status, answer = lwa_bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": REVOKED}}))
    assert status == 200 and answer["response_action"] == "errors"
    assert set(answer["errors"]) == {ids.SECRET_BLOCK} and "invalid_grant" in answer["errors"][ids.SECRET_BLOCK]
    assert saved(engine) == before

    status, answer = lwa_bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": REFRESH}}))
    assert status == 200 and answer is None
    reply = slack.wait_for("chat.postMessage", count=2)[1].params
    assert reply["thread_ts"] == notice["ts"]
    assert "The new token was verified with Amazon." in reply["text"]
    assert "verified with Amazon" in str(reply["blocks"])
    assert saved(engine)[2] == ["verified"]

    exchanged = [r.form["refresh_token"] for r in issuer.seen("/auth/o2/token")]
    assert exchanged == [REVOKED, REFRESH]
    for secret in (REFRESH, REVOKED, CLIENT_SECRET, "standin-access"):
        assert secret not in caplog.text
        assert all(secret not in str(c.params) for c in slack.calls)


def test_a_slow_lwa_still_answers_inside_slacks_window_and_says_it_could_not_be_verified(engine, slack, lwa_bot,
                                                                                           issuer):
    notice, view = open_form(engine, slack, lwa_bot)
    issuer.mode = "slow"
    started = time.perf_counter()
    status, answer = lwa_bot.submit(view, state_values(view, {ids.SECRET_BLOCK: {"value": REFRESH}}))
    elapsed = time.perf_counter() - started
    assert status == 200 and answer is None
    assert DEADLINE_SECONDS <= elapsed < SLACK_WINDOW, f"the submission took {elapsed:.2f} s"
    reply = slack.wait_for("chat.postMessage", count=2)[1].params
    assert reply["thread_ts"] == notice["ts"]
    assert (f"The new token was saved, but could not be verified: Amazon did not answer within "
            f"{DEADLINE_SECONDS:g} s.") in reply["text"]
    assert saved(engine)[2] == [f"unverified: Amazon did not answer within {DEADLINE_SECONDS:g} s"]
