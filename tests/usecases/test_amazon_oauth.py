"""renewbot/usecases/amazon_oauth.py, renewbot/blocks/authorize.py and the `selling_partner_id` import field.

The consent URL and the view are pure; the code exchange runs against the LWA stand-in (a real HTTP server).
The whole path by HTTP through the signed bot is in tests/runtime/test_oauth_callback.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from renewbot.blocks import ids
from renewbot.blocks.authorize import BUTTON_TEXT, authorize_view
from renewbot.errors import ImportFileError
from renewbot.runtime.config import SecretEntrySettings
from renewbot.usecases import amazon_oauth as oauth
from renewbot.usecases.amazon_oauth import ExchangeFailed, LwaClient, consent_url, exchange_code
from renewbot.usecases.importing import import_file
from renewbot.usecases.verify import HttpVerifier, NoVerifier, StoredSecret
from storage.db import session_scope
from storage.models import Token
from tests.support.lwa import CLIENT_ID, CLIENT_SECRET, IssuerStandin, down_url

PUBLIC = "https://renewbot.example"
APP_ID = "amzn1.sp.solution.11111111-2222-3333-4444-555555555555"
REFRESH = "Atzr|IwEBIPlantedRefreshFromAmazon-oauth-unit-7d1e"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def entry(**changes) -> SecretEntrySettings:
    values = dict(public_url=PUBLIC, secret_entry="page", amazon_spapi_app_id=APP_ID)
    values.update(changes)
    return SecretEntrySettings(**values)


def token(kind: str = "amazon-sp-api", marketplace: str | None = "uk") -> SimpleNamespace:
    return SimpleNamespace(kind=kind, marketplace=marketplace, name="EU SP-API")


# --- which tokens take Amazon's way ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind, settings, expected", [
    ("amazon-sp-api", entry(), True),
    ("amazon-sp-api", entry(secret_entry="modal"), True),  # the provider's own flow wins over the modal
    ("amazon-sp-api", entry(amazon_spapi_app_id=None), False),  # a self-authorized private app: no OAuth flow
    ("amazon-sp-api", entry(public_url=None, secret_entry="modal"), False),  # Amazon could not send anyone back
    ("amazon-mws", entry(), False),
    ("amazon-lwa-client-secret", entry(), False),
    ("generic", entry(), False),
    ("team-kind", entry(), False),
])
def test_uses_amazon_authorization(kind, settings, expected):
    assert oauth.uses_amazon_authorization(token(kind), settings) is expected


# --- the consent URL -----------------------------------------------------------------------------------------

def test_consent_url_goes_to_the_tokens_marketplace_with_the_app_and_state():
    url = consent_url(token=token(marketplace="uk"), state="s+t/a=te&x", entry=entry())
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://sellercentral.amazon.co.uk/apps/authorize/consent"
    assert parse_qs(parts.query) == {"application_id": [APP_ID], "state": ["s+t/a=te&x"]}
    assert oauth.seller_central_note(token(marketplace="uk"), entry()) is None


def test_consent_url_of_a_draft_app_asks_for_the_beta_version():
    url = consent_url(token=token(marketplace="de"), state="abc", entry=entry(amazon_spapi_draft=True))
    assert url == (f"https://sellercentral.amazon.de/apps/authorize/consent?application_id={APP_ID}&state=abc"
                   "&version=beta")


def test_consent_url_without_a_marketplace_assumes_us_and_says_so():
    url = consent_url(token=token(marketplace=None), state="abc", entry=entry())
    assert url.startswith("https://sellercentral.amazon.com/apps/authorize/consent?")
    note = oauth.seller_central_note(token(marketplace=None), entry())
    assert note == ("This token names no marketplace, so the link opens Amazon.com (United States) Seller Central. "
                    "If the seller account is in another region, an admin can set `marketplace:` on the token in "
                    "the import file.")


def test_seller_central_override_wins_for_every_marketplace():
    settings = entry(amazon_seller_central_url="http://127.0.0.1:9/")
    for place in ("uk", None):
        assert consent_url(token=token(marketplace=place), state="abc", entry=settings).startswith(
            "http://127.0.0.1:9/apps/authorize/consent?application_id=")
        assert oauth.seller_central_note(token(marketplace=place), settings) is None


def test_redirect_uri_and_the_seller_check():
    assert oauth.redirect_uri("https://renewbot.example/") == "https://renewbot.example/oauth/amazon/callback"
    assert oauth.wrong_seller(stored="A1SELLER", sent="A2OTHER") is True
    assert oauth.wrong_seller(stored="A1SELLER", sent="A1SELLER") is False
    assert oauth.wrong_seller(stored=None, sent="A2OTHER") is False  # nothing stored: nothing to compare with


# --- the view --------------------------------------------------------------------------------------------------

def test_authorize_view_is_a_link_button_and_says_what_happens():
    url = "https://sellercentral.amazon.co.uk/apps/authorize/consent?application_id=a&state=s"
    view = authorize_view(url, "EU <SP-API> & co")
    assert view["type"] == "modal" and view["callback_id"] == ids.AUTHORIZE_VIEW and "submit" not in view
    assert view["close"]["text"] == "Done" and len(view["title"]["text"]) <= 24
    buttons = [el for b in view["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert buttons == [{"type": "button", "text": {"type": "plain_text", "text": BUTTON_TEXT, "emoji": True},
                        "action_id": ids.AUTHORIZE_BUTTON, "url": url, "style": "primary"}]
    text = " ".join(str(b) for b in view["blocks"])
    assert "Log out of every other Amazon seller account first" in text
    assert "for you only and works once, for 15 minutes" in text
    assert "Nothing is saved until Amazon sends you back" in text
    assert "EU &lt;SP-API&gt; &amp; co" in text and "<SP-API>" not in text.replace("Authorize EU <SP-API>", "")
    assert len(view["blocks"]) == 4


def test_authorize_view_shows_the_note_and_refuses_an_overlong_url():
    view = authorize_view("https://x.example/c", "T", note="opens <US>")
    assert view["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "opens &lt;US&gt;"}]}
    with pytest.raises(ValueError):
        authorize_view("https://x.example/" + "a" * 3000, "T")


# --- the code exchange, against the LWA stand-in ------------------------------------------------------------------

@pytest.fixture
def lwa():
    with IssuerStandin() as standin:
        yield standin


def client(standin, **changes) -> LwaClient:
    values = dict(lwa_url=standin.url, client_id=CLIENT_ID, env_secret=CLIENT_SECRET)
    values.update(changes)
    return LwaClient(**values)


def test_exchange_posts_the_authorization_code_grant_and_returns_the_refresh_token(lwa, caplog):
    caplog.set_level(logging.DEBUG)
    code = lwa.issue_code(REFRESH)
    assert exchange_code(code=code, client=client(lwa), public_url=PUBLIC) == REFRESH
    [seen] = lwa.code_exchanges()
    assert seen.method == "POST" and seen.path == "/auth/o2/token"
    assert seen.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert seen.form == {"grant_type": "authorization_code", "code": code,
                         "redirect_uri": "https://renewbot.example/oauth/amazon/callback",
                         "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert REFRESH not in caplog.text and code not in caplog.text


def test_a_code_is_exchanged_once_then_refused_as_invalid_grant(lwa, caplog):
    code = lwa.issue_code(REFRESH)
    exchange_code(code=code, client=client(lwa), public_url=PUBLIC)
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code=code, client=client(lwa), public_url=PUBLIC)
    assert refused.value.reason == oauth.INVALID_GRANT
    assert refused.value.message.startswith("Amazon refused the authorization code (invalid_grant): it expired")
    # The stand-in echoes the code in its error body: none of it reaches the message or the log.
    assert code not in refused.value.message and code not in caplog.text


def test_the_tracked_client_secret_wins_over_the_environments(lwa):
    lwa.client_secret = "amzn1.oa2-cs.v1.tracked-rotated-secret"
    tracked = StoredSecret(token_id="lwa-secret", value=lwa.client_secret)
    code = lwa.issue_code(REFRESH)
    assert exchange_code(code=code, client=client(lwa, stored_secret=lambda: tracked), public_url=PUBLIC) == REFRESH
    assert [s.form["client_secret"] for s in lwa.code_exchanges()] == [tracked.value]


def test_a_refused_tracked_secret_is_retried_with_the_environments_and_said(lwa, caplog):
    stale = StoredSecret(token_id="lwa-secret", value="amzn1.oa2-cs.v1.stale")
    code = lwa.issue_code(REFRESH)
    assert exchange_code(code=code, client=client(lwa, stored_secret=lambda: stale), public_url=PUBLIC) == REFRESH
    assert [s.form["client_secret"] for s in lwa.code_exchanges()] == [stale.value, CLIENT_SECRET]
    assert "renew token lwa-secret with the app's current client secret" in caplog.text
    assert stale.value not in caplog.text and CLIENT_SECRET not in caplog.text


def test_renewbots_own_client_refused_is_not_the_persons_fault(lwa, caplog):
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code=lwa.issue_code(REFRESH), client=client(lwa, env_secret="amzn1.oa2-cs.v1.wrong"),
                      public_url=PUBLIC)
    assert refused.value.reason == oauth.INVALID_CLIENT
    assert "renewbot's own sign-in settings" in refused.value.message
    assert "check AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET" in caplog.text


def test_a_redirect_uri_that_does_not_match_the_apps_is_said_to_the_operator(lwa, caplog):
    lwa.redirect_uri = "https://elsewhere.example/oauth/amazon/callback"
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code=lwa.issue_code(REFRESH), client=client(lwa), public_url=PUBLIC)
    assert refused.value.reason == oauth.BAD_REQUEST
    assert "OAuth redirect URI is PUBLIC_URL + /oauth/amazon/callback" in caplog.text


@pytest.mark.parametrize("mode, reason, text", [
    ("error", oauth.UNEXPECTED, "did not expect (HTTP 500)"),
    ("slow", oauth.UNREACHABLE, "did not answer within 0.3 s"),
])
def test_an_lwa_that_fails_or_stalls_is_bounded(lwa, mode, reason, text):
    lwa.mode = mode
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code=lwa.issue_code(REFRESH), client=client(lwa), public_url=PUBLIC, deadline=0.3)
    assert refused.value.reason == reason and text in refused.value.message


def test_an_unreachable_lwa():
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code="ANcode", client=LwaClient(lwa_url=down_url(), client_id=CLIENT_ID,
                                                      env_secret=CLIENT_SECRET), public_url=PUBLIC)
    assert refused.value.reason == oauth.UNREACHABLE and "could not be reached" in refused.value.message


def test_an_answer_without_an_sp_api_refresh_token_is_refused(lwa):
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code=lwa.issue_code("not-a-refresh-token"), client=client(lwa), public_url=PUBLIC)
    assert refused.value.reason == oauth.UNEXPECTED


def test_no_client_configured_sends_nothing(lwa):
    with pytest.raises(ExchangeFailed) as refused:
        exchange_code(code="ANcode", client=client(lwa, client_id=None), public_url=PUBLIC)
    assert refused.value.reason == oauth.NOT_CONFIGURED and lwa.requests == []


def test_the_client_comes_from_the_verifier_and_hides_its_secret(lwa):
    verifier = HttpVerifier(lwa_url=lwa.url + "/", lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET)
    made = LwaClient.from_verifier(verifier)
    assert (made.lwa_url, made.client_id, made.env_secret) == (lwa.url, CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(made)
    assert LwaClient.from_verifier(NoVerifier()) is None


# --- the import field ----------------------------------------------------------------------------------------

def _file(tmp_path: Path, **extra) -> Path:
    item = {"id": "sp", "kind": "amazon-sp-api", "name": "SP", "expires_at": "2027-01-01", "channel": "C0123ALERTS",
            **extra}
    path = tmp_path / "tokens.yml"
    path.write_text(yaml.safe_dump({"tokens": [item]}, sort_keys=False), encoding="utf-8")
    return path


def test_selling_partner_id_is_stored_and_changes_show(sqlite_engine, tmp_path):
    with session_scope(sqlite_engine) as s:
        import_file(_file(tmp_path, selling_partner_id="A2EXAMPLE1SELLER"), session=s, now=NOW)
    with session_scope(sqlite_engine) as s:
        assert s.get(Token, "sp").selling_partner_id == "A2EXAMPLE1SELLER"
        report = import_file(_file(tmp_path, selling_partner_id="A3OTHER"), session=s, now=NOW)
    assert "token sp: selling_partner_id 'A2EXAMPLE1SELLER' -> 'A3OTHER'" in report.changes


@pytest.mark.parametrize("value, problem", [
    ("a2lowercase", "selling_partner_id 'a2lowercase' is not an Amazon seller id (1 to 64 capital letters and "
                    "digits, e.g. A2EXAMPLE1SELLER)"),
    ("A" * 65, "is not an Amazon seller id"),
    ("", "is not an Amazon seller id"),
    (12345, "selling_partner_id '12345' is not an Amazon seller id"),
    ("A-1", "is not an Amazon seller id"),
])
def test_a_malformed_selling_partner_id_refuses_the_file(sqlite_engine, tmp_path, value, problem):
    with session_scope(sqlite_engine) as s, pytest.raises(ImportFileError) as refused:
        import_file(_file(tmp_path, selling_partner_id=value), session=s, now=NOW)
    assert problem in refused.value.render()


def test_selling_partner_id_on_another_kind_is_refused(sqlite_engine, tmp_path):
    with session_scope(sqlite_engine) as s, pytest.raises(ImportFileError) as refused:
        import_file(_file(tmp_path, kind="amazon-mws", selling_partner_id="A1SELLER"), session=s, now=NOW)
    assert ("selling_partner_id is only for tokens renewed through Amazon's authorization (kind amazon-sp-api), "
            "not kind 'amazon-mws'") in refused.value.render()


def test_dry_run_shows_the_selling_partner_id(tmp_path):
    first, second = _file(tmp_path), tmp_path / "second.yml"
    second.write_text(_file(tmp_path, selling_partner_id="A2EXAMPLE1SELLER").read_text(), encoding="utf-8")
    _file(tmp_path)  # the first file again, without the field
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "renewbot"]
    assert subprocess.run([*run, "import", str(first)], env=env, capture_output=True, text=True,
                          cwd=tmp_path).returncode == 0
    dry = subprocess.run([*run, "import", str(second), "--dry-run"], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "token sp: selling_partner_id None -> 'A2EXAMPLE1SELLER'" in dry.stdout
