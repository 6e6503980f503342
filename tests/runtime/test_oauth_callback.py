"""SP-API renewed through Amazon's website authorization workflow, by HTTP through the signed bot.

notice -> Renew -> form (no secret field) -> submit -> the form turns into the consent link -> a browser follows it
to the consent stand-in (Seller Central) -> 302 back to renewbot's callback -> the code exchanged at the LWA
stand-in -> the renewal applied -> the thread confirmation. Then every refusal: reused, forged, expired and
other-user states, a wrong seller, LWA refusing the code, a malformed query. Each changes nothing.
"""

from __future__ import annotations

import html
import io
import logging
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlmodel import select

from jobs.scan import scan
from renewbot.blocks import ids
from renewbot.crypto import SecretBox
from renewbot.runtime import oauth_callback
from renewbot.runtime.config import SecretEntrySettings
from renewbot.runtime.deps import Deps
from renewbot.runtime.logs import RedactingFormatter
from renewbot.runtime.oauth_callback import OAUTH_CALLBACK_PATH, read_query
from renewbot.runtime.secret_page_html import CSP
from renewbot.runtime.slack_client import make_client
from renewbot.usecases import pending
from renewbot.usecases.verify import HttpVerifier
from storage.db import session_scope
from storage.models import Account, Notice, NoticeState, PendingRenewal, Renewal, Token
from tests.conftest import NOW
from tests.support.bot_server import BotServer, free_port, settle, standin_settings
from tests.support.lwa import CLIENT_ID, CLIENT_SECRET, STANDIN_SELLER, ConsentStandin, IssuerStandin
from tests.support.seed import account, seed, token
from tests.support.slack_requests import state_values

APP_ID = "amzn1.sp.solution.aaaabbbb-cccc-dddd-eeee-ffff00001111"
REFRESH = "Atzr|IwEBIPlantedRefreshTokenFromAmazonConsent-0b9c2e7a41"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, *, follow: bool = True, method: str = "GET") -> SimpleNamespace:
    """What a browser gets for `url` (following the consent page's redirect back to renewbot when `follow`)."""
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirects)
    request = urllib.request.Request(url, method=method)
    try:
        with opener.open(request, timeout=15) as response:
            return SimpleNamespace(status=response.status, headers=response.headers, url=response.url,
                                   text=response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return SimpleNamespace(status=error.code, headers=error.headers, url=error.url,
                                   text=error.read().decode())


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture
def amazon(engine, fernet_key, clock, slack):
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with IssuerStandin() as lwa:
        lwa.redirect_uri = public + OAUTH_CALLBACK_PATH  # LWA refuses another redirect_uri, as Amazon does
        with ConsentStandin(lwa, application_id=APP_ID, redirect_uri=lwa.redirect_uri, refresh_token=REFRESH,
                            draft=True) as consent:
            entry = SecretEntrySettings(public_url=public, secret_entry="page", amazon_spapi_app_id=APP_ID,
                                        amazon_seller_central_url=consent.url, amazon_spapi_draft=True)
            settings = standin_settings(slack.url, entry=entry, amazon_lwa_url=lwa.url,
                                        amazon_lwa_client_id=CLIENT_ID, amazon_lwa_client_secret=CLIENT_SECRET)
            deps = Deps(engine=engine, box=SecretBox((fernet_key,)), clock=clock, entry=entry,
                        verifier=HttpVerifier.from_settings(settings))
            with BotServer(settings, deps, slack, port=port) as bot:
                yield SimpleNamespace(bot=bot, lwa=lwa, consent=consent, deps=deps, public=public, slack=slack,
                                      engine=engine, clock=clock)


def post_notice(amazon, *, seller: str | None = STANDIN_SELLER) -> dict:
    extra = {"selling_partner_id": seller} if seller else {}
    seed(amazon.engine, now=NOW,
         accounts=[account("amazon-uk", enabled=False, fetch_orders=True),
                   account("amazon-de", enabled=False, fetch_orders=True)],
         tokens=[token("sp", NOW + timedelta(days=3), kind="amazon-sp-api", owners=["U0OWNER"], name="EU SP-API",
                       accounts=["amazon-uk", "amazon-de"], **extra)])
    scan(engine=amazon.engine, client=make_client("xoxb-test", amazon.slack.url), now=NOW)
    return amazon.slack.messages["C0ALERTS"][0]


def consent_link(amazon, notice: dict, *, user: str = "U0OWNER") -> str:
    """Renew on the notice, the form submitted with amazon-uk to re-enable and amazon-de not fetching orders:
    the link in the view the form turned into."""
    bot, slack = amazon.bot, amazon.slack
    before = len(slack.calls_to("views.open"))
    assert bot.click(ids.RENEW_BUTTON, "sp", message=notice, user=user) == 200
    slack.wait_for("views.open", before + 1)
    view = slack.calls_to("views.open")[-1].params["view"]
    view = view if isinstance(view, dict) else __import__("json").loads(view)
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert ids.SECRET_BLOCK not in inputs  # the refresh token is never asked for in Slack
    reenable = next(b for k, b in inputs.items() if k.startswith(ids.REENABLE_BLOCK_PREFIX))
    nofetch = next(b for k, b in inputs.items() if k.startswith(ids.NOFETCH_BLOCK_PREFIX))
    pick = {o["value"]: o for o in reenable["element"]["options"]}
    status, answer = bot.submit(view, state_values(view, {
        reenable["block_id"]: {"selected_options": [pick["amazon-uk"]]},
        nofetch["block_id"]: {"selected_options": [pick["amazon-de"]]}}), user=user)
    assert status == 200 and answer["response_action"] == "update", answer
    buttons = [el for b in answer["view"]["blocks"] if b["type"] == "actions" for el in b["elements"]]
    (button,) = buttons
    assert button["action_id"] == ids.AUTHORIZE_BUTTON and button["text"]["text"] == "Authorize with Amazon"
    return button["url"]


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def snapshot(engine) -> tuple:
    with session_scope(engine) as s:
        tok = s.get(Token, "sp")
        accounts = tuple((a.id, a.enabled, a.fetch_orders) for a in s.exec(select(Account).order_by(Account.id)))
        used = tuple(p.used_at is not None for p in s.exec(select(PendingRenewal)))
        return (tok.expires_at, tok.secret_encrypted, tok.version, accounts,
                len(s.exec(select(Renewal)).all()), used)


def assert_page(answer, status: int, *fragments: str) -> None:
    assert answer.status == status, answer.text
    for fragment in fragments:
        assert fragment in html.unescape(answer.text), answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"] == CSP and CSP.startswith("default-src 'none';")
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"


# --- the whole path ------------------------------------------------------------------------------------------

def test_renew_by_amazon_authorization_end_to_end(amazon, captured_logs):
    notice = post_notice(amazon)
    url = consent_link(amazon, notice)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == amazon.consent.url + "/apps/authorize/consent"
    query = parse_qs(parts.query)
    assert query["application_id"] == [APP_ID] and query["version"] == ["beta"] and len(query["state"][0]) >= 43
    with session_scope(amazon.engine) as s:  # only the state's hash is stored
        (row,) = s.exec(select(PendingRenewal)).all()
        assert row.kind == "amazon" and row.key_hash == pending.key_hash(query["state"][0])
        assert row.expires_at.replace(tzinfo=None) == (NOW + timedelta(minutes=15)).replace(tzinfo=None)

    answer = get(url)  # the person confirms on Amazon's page; Amazon sends their browser back
    assert answer.url.startswith(amazon.public + OAUTH_CALLBACK_PATH + "?")
    assert_page(answer, 200, "Renewed: you can close this tab", "EU SP-API now expires on 2027-11-26")

    (exchange,) = amazon.lwa.code_exchanges()
    assert exchange.form["grant_type"] == "authorization_code"
    assert exchange.form["redirect_uri"] == amazon.public + "/oauth/amazon/callback"
    assert (exchange.form["client_id"], exchange.form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    with session_scope(amazon.engine) as s:
        tok = s.get(Token, "sp")
        assert tok.expires_at.date() == (NOW + timedelta(days=365)).date()
        assert amazon.deps.box.decrypt(tok.secret_encrypted) == REFRESH
        assert [(a.id, a.enabled, a.fetch_orders) for a in s.exec(select(Account).order_by(Account.id))] == [
            ("amazon-de", False, False), ("amazon-uk", True, True)]
        (renewal,) = s.exec(select(Renewal)).all()
        assert (renewal.via, renewal.renewed_by, renewal.verification) == ("amazon", "U0OWNER", "verified")
        assert [n.state for n in s.exec(select(Notice))] == [NoticeState.CLOSED]
        assert s.exec(select(PendingRenewal)).one().used_at is not None

    (reply,) = amazon.slack.wait_for("chat.postMessage", 2)[1:]
    assert reply.params["thread_ts"] == notice["ts"]
    assert "Authorized with Amazon by <@U0OWNER>" in reply.params["text"]
    amazon.slack.wait_for("chat.update")
    logs = captured_logs.getvalue()
    assert "renewed by U0OWNER through Amazon's authorization (seller A1STANDINSELLER)" in logs
    code = parse_qs(urlsplit(answer.url).query)["spapi_oauth_code"][0]
    assert query["state"][0] not in logs and code not in logs and REFRESH not in logs


def test_the_planted_refresh_token_is_nowhere_in_plain_text(amazon, captured_logs, db_url):
    notice = post_notice(amazon)
    url = consent_link(amazon, notice)
    assert get(url).status == 200
    amazon.slack.wait_for("chat.update")
    settle()
    calls = " ".join(f"{c.method} {c.params}" for c in amazon.slack.calls)
    assert REFRESH not in calls and REFRESH[5:] not in calls
    assert state_of(url) not in calls.replace(url, "")  # the state travels in the link button's url only
    assert REFRESH not in captured_logs.getvalue() and state_of(url) not in captured_logs.getvalue()
    from tests.test_secrets import raw_database
    raw = raw_database(db_url, amazon.engine)
    assert REFRESH.encode() not in raw and REFRESH[5:].encode() not in raw
    assert state_of(url).encode() not in raw  # the state is stored only as its hash


# --- states refused --------------------------------------------------------------------------------------------

def callback_url(amazon, state: str, *, seller: str = STANDIN_SELLER, code: str | None = None) -> str:
    code = code or amazon.lwa.issue_code(REFRESH)
    return f"{amazon.public}{OAUTH_CALLBACK_PATH}?" + urlencode(
        {"state": state, "selling_partner_id": seller, "spapi_oauth_code": code})


def test_a_used_state_is_refused_and_changes_nothing_more(amazon):
    url = consent_link(amazon, post_notice(amazon))
    assert get(url).status == 200
    amazon.slack.wait_for("chat.update")
    after = snapshot(amazon.engine)
    again = get(url)  # the same link pressed again: Amazon hands out a new code with the same state
    assert_page(again, 410, "This authorization link was already used")
    assert snapshot(amazon.engine) == after
    assert len(amazon.lwa.code_exchanges()) == 1  # no code is spent for a used state
    settle()
    assert len(amazon.slack.calls_to("chat.postMessage")) == 2  # the notice and the one confirmation


def test_a_forged_state_is_refused_without_asking_amazon(amazon, captured_logs):
    consent_link(amazon, post_notice(amazon))
    before = snapshot(amazon.engine)
    forged = "F" * 43
    answer = get(callback_url(amazon, forged))
    assert_page(answer, 404, "This authorization is not one renewbot started", "Nothing was changed.")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []
    assert forged not in captured_logs.getvalue()


def test_an_expired_state_is_refused(amazon):
    url = consent_link(amazon, post_notice(amazon))
    before = snapshot(amazon.engine)
    amazon.clock.now = NOW + timedelta(minutes=15, seconds=1)
    assert_page(get(url), 410, "This authorization link has expired", "Press Renew in Slack again")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []


def test_a_state_of_someone_no_longer_an_owner_is_refused(amazon):
    url = consent_link(amazon, post_notice(amazon))
    with session_scope(amazon.engine) as s:  # ownership changed while they were on Amazon's page
        s.get(Token, "sp").owners = ["U0SOMEONE"]
    before = snapshot(amazon.engine)
    assert_page(get(url), 403, "You are no longer one of EU SP-API's owners", "nothing was changed")
    assert snapshot(amazon.engine) == before
    assert amazon.lwa.code_exchanges() == []  # refused before Amazon's code is spent
    settle()
    assert len(amazon.slack.calls_to("chat.postMessage")) == 1  # the notice only


def test_another_flows_key_is_refused_at_amazons_callback(amazon):
    post_notice(amazon)
    with session_scope(amazon.engine) as s:  # a private page's one-time id, for the same person and token
        key, _ = pending.create(session=s, kind=pending.PAGE, token_id="sp", token_version=1, user_id="U0OWNER",
                                choices=pending.Choices(), now=NOW)
    before = snapshot(amazon.engine)
    assert_page(get(callback_url(amazon, key)), 403, "This link is not an Amazon authorization")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []


# --- the seller, and LWA ------------------------------------------------------------------------------------------

def test_a_different_seller_is_refused_and_the_link_still_works_for_the_right_one(amazon):
    url = consent_link(amazon, post_notice(amazon))
    before = snapshot(amazon.engine)
    amazon.consent.seller = "A9OTHERSELLER"  # signed in to another seller account on Seller Central
    answer = get(url)
    assert_page(answer, 409, "You authorized a different seller account",
                "Amazon sent back seller A9OTHERSELLER, but EU SP-API is for seller A1STANDINSELLER",
                "Log out of every Amazon seller account, sign in to Seller Central as A1STANDINSELLER")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []
    amazon.consent.seller = STANDIN_SELLER  # logged out, signed in as the right one, pressed the link again
    assert get(url).status == 200
    with session_scope(amazon.engine) as s:
        assert s.exec(select(Renewal)).one().via == "amazon"


def test_no_stored_seller_accepts_the_one_amazon_sends_stores_it_and_names_it(amazon):
    url = consent_link(amazon, post_notice(amazon, seller=None))
    amazon.consent.seller = "A9ANYSELLER"
    assert get(url).status == 200
    with session_scope(amazon.engine) as s:  # every later authorization must be for this seller
        assert s.get(Token, "sp").selling_partner_id == "A9ANYSELLER"
    reply = amazon.slack.wait_for("chat.postMessage", 2)[-1]
    assert "Authorized with Amazon by <@U0OWNER> for seller A9ANYSELLER" in reply.params["text"]


def test_a_seller_stored_meanwhile_is_compared_inside_the_renewal(amazon):
    url = consent_link(amazon, post_notice(amazon, seller=None))
    amazon.consent.seller = "A9ANYSELLER"
    real = oauth_callback.exchange_code

    def exchange_while_an_import_names_the_seller(**kw):
        refresh = real(**kw)
        with session_scope(amazon.engine) as s:
            s.get(Token, "sp").selling_partner_id = STANDIN_SELLER
        return refresh

    before = snapshot(amazon.engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(oauth_callback, "exchange_code", exchange_while_an_import_names_the_seller)
        answer = get(url)
    assert_page(answer, 409, "Amazon sent back seller A9ANYSELLER, but EU SP-API is for seller A1STANDINSELLER")
    assert snapshot(amazon.engine) == before


def test_a_token_renewed_meanwhile_is_refused_before_the_code_is_spent(amazon):
    url = consent_link(amazon, post_notice(amazon))
    with session_scope(amazon.engine) as s:  # renewed another way while they were on Amazon's page
        s.get(Token, "sp").version += 1
    before = snapshot(amazon.engine)
    assert_page(get(url), 409, "EU SP-API changed since you pressed Renew", "Nothing was changed")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []


def test_a_state_claimed_by_another_replica_is_already_in_progress(amazon):
    url = consent_link(amazon, post_notice(amazon))
    with session_scope(amazon.engine) as s:  # another replica, mid-exchange: its claim is in the database
        s.exec(select(PendingRenewal)).one().claimed_until = NOW + timedelta(seconds=20)
    before = snapshot(amazon.engine)
    assert_page(get(url), 409, "Already in progress")
    assert snapshot(amazon.engine) == before and amazon.lwa.code_exchanges() == []
    amazon.clock.now = NOW + timedelta(seconds=31)  # that replica died: its claim lapses
    assert get(url).status == 200


def test_a_failed_exchange_releases_the_claim(amazon):
    url = consent_link(amazon, post_notice(amazon))
    amazon.lwa.refuse_codes = True
    assert get(url).status == 400
    with session_scope(amazon.engine) as s:
        assert s.exec(select(PendingRenewal)).one().claimed_until is None


def test_a_database_error_early_gets_our_500_page_with_its_headers(amazon, captured_logs):
    url = consent_link(amazon, post_notice(amazon))

    def broken(**_):
        raise RuntimeError("database is down")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(oauth_callback, "open_pending", broken)
        answer = get(url)
    assert_page(answer, 500, "Something went wrong")
    assert "database is down" not in answer.text and state_of(url) not in captured_logs.getvalue()
    assert "the Amazon authorization callback failed" in captured_logs.getvalue()


def test_lwa_refusing_the_code_changes_nothing_and_keeps_the_link(amazon):
    url = consent_link(amazon, post_notice(amazon))
    before = snapshot(amazon.engine)
    amazon.lwa.refuse_codes = True
    answer = get(url)
    assert_page(answer, 400, "Amazon refused the authorization code (invalid_grant)", "Nothing was changed")
    assert snapshot(amazon.engine) == before and len(amazon.lwa.code_exchanges()) == 1
    settle()
    assert len(amazon.slack.calls_to("chat.postMessage")) == 1
    amazon.lwa.refuse_codes = False  # the state was not consumed: the same link, a new code
    assert get(url).status == 200


def test_lwa_refusing_renewbots_client_says_so(amazon, captured_logs):
    url = consent_link(amazon, post_notice(amazon))
    before = snapshot(amazon.engine)
    amazon.lwa.client_secret = "amzn1.oa2-cs.v1.rotated-elsewhere"
    assert_page(get(url), 502, "Amazon refused renewbot's own sign-in settings")
    assert snapshot(amazon.engine) == before
    assert "check AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET" in captured_logs.getvalue()


# --- the query itself -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, fragment", [
    ("state=a&state=b&selling_partner_id=A1&spapi_oauth_code=c", "repeats a parameter"),
    ("state=" + "a" * 5000 + "&selling_partner_id=A1&spapi_oauth_code=c", "too long"),
    ("&".join(f"p{n}=1" for n in range(20)), "too many parameters"),
    ("state=abcdefghijklmnopqrstuvwxyz&selling_partner_id=A1", "lacks spapi_oauth_code"),
    ("state=abcdefghijklmnopqrstuvwxyz&selling_partner_id=a1-lower&spapi_oauth_code=c", "not of the shape"),
    ("state=<script>abcdefghijklmnop&selling_partner_id=A1&spapi_oauth_code=c", "not of the shape"),
    ("error=access_denied&state=abcdefghijklmnopqrstuvwxyz", "Amazon did not authorize the app"),
])
def test_a_malformed_query_is_refused_plainly(amazon, query, fragment):
    answer = get(f"{amazon.public}{OAUTH_CALLBACK_PATH}?{query}")
    assert_page(answer, 400, fragment, "Nothing was changed.")
    assert "<script>" not in answer.text and amazon.lwa.requests == []


def test_only_get_is_answered(amazon):
    assert get(f"{amazon.public}{OAUTH_CALLBACK_PATH}?state=x", method="POST").status == 405


def test_read_query_keeps_only_what_it_reads():
    params = read_query("state=abcdefghijklmnopqrstuvwxyz&selling_partner_id=A1B2&spapi_oauth_code=ANx-1"
                        "&mws_auth_token=amzn.mws.x")
    assert params == {"state": "abcdefghijklmnopqrstuvwxyz", "selling_partner_id": "A1B2",
                      "spapi_oauth_code": "ANx-1"}


def test_without_a_public_url_there_is_no_callback(engine, fernet_key, clock, slack):
    deps = Deps(engine=engine, box=SecretBox((fernet_key,)), clock=clock)
    deps = replace(deps, entry=SecretEntrySettings())
    with BotServer(standin_settings(slack.url), deps, slack) as bot:
        assert get(f"{bot.url}{OAUTH_CALLBACK_PATH}?state=x").status in (401, 404)
