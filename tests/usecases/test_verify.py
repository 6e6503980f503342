"""The network checks of a new credential, against real local HTTP stand-ins of LWA and of a verify_url."""

from __future__ import annotations

import logging
import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest

from renewbot.domain.kinds import resolve
from renewbot.errors import ConfigError
from renewbot.runtime.config import Settings
from renewbot.usecases.verify import (
    LWA_SETTINGS_REFUSED,
    REFUSED,
    UNVERIFIED,
    VERIFIED,
    HttpVerifier,
    NoVerifier,
    StoredSecret,
    Verification,
)
from tests.support.lwa import CLIENT_ID, CLIENT_SECRET, IssuerStandin, down_url
from tests.support.tls_server import make_certificate

REFRESH = "Atzr|IwEBIKnownRefreshToken-0123456789"
UNKNOWN = "Atzr|IwEBIRevokedRefreshToken-9876543210"
BEARER = "pat_live_0123456789abcdef"
SP_API, GENERIC = resolve("amazon-sp-api"), resolve("generic")
SHORT = 0.4  # a short deadline keeps the slow cases quick; the default one is measured end to end elsewhere


@pytest.fixture
def issuer():
    with IssuerStandin(refresh_tokens={REFRESH}, bearers={BEARER}) as standin:
        yield standin


def lwa(issuer: IssuerStandin, **kw) -> HttpVerifier:
    values = dict(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET, deadline=SHORT)
    values.update(kw)
    return HttpVerifier(**values)


def check_sp(verifier: HttpVerifier, secret: str = REFRESH) -> Verification | None:
    return verifier.verify(kind=SP_API, secret=secret, verify_url=None, token_id="sp-eu")


# --- LWA --------------------------------------------------------------------------------------------

def test_a_refresh_token_lwa_exchanges_is_verified(issuer):
    assert check_sp(lwa(issuer)) == Verification(VERIFIED, by="Amazon")
    (seen,) = issuer.seen("/auth/o2/token")
    assert seen.method == "POST" and seen.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert seen.form == {"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": CLIENT_ID,
                         "client_secret": CLIENT_SECRET}
    assert issuer.issued == ["Atza|standin-access-0"]


def test_invalid_grant_is_refused_without_repeating_the_token_or_the_body(issuer):
    result = check_sp(lwa(issuer), UNKNOWN)
    assert result.state == REFUSED and "invalid_grant" in result.reason and "Nothing was saved" in result.reason
    assert UNKNOWN not in result.reason and "grant parameter" not in result.reason  # the stand-in echoes it


def test_invalid_client_saves_unverified_and_tells_the_operator_without_secrets(issuer, caplog):
    with caplog.at_level(logging.DEBUG):
        result = check_sp(lwa(issuer, lwa_client_secret="amzn1.oa2-cs.v1.wrong-secret-5d1e"))
    assert result == Verification(UNVERIFIED, LWA_SETTINGS_REFUSED, by="Amazon")
    assert result.stored == f"unverified: {LWA_SETTINGS_REFUSED}"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert "AMAZON_LWA_CLIENT_SECRET" in text and "invalid_client" in text and "sp-eu" in text
    for secret in ("wrong-secret-5d1e", REFRESH, CLIENT_SECRET, "standin-access"):
        assert secret not in caplog.text


def test_a_server_error_saves_unverified_naming_the_status_not_the_body(issuer):
    issuer.mode = "error"
    result = check_sp(lwa(issuer))
    assert result == Verification(UNVERIFIED, "Amazon answered HTTP 500 (server_error)", by="Amazon")
    assert REFRESH not in result.stored


def test_a_slow_lwa_is_given_up_on_at_the_deadline(issuer):
    issuer.mode = "slow"
    started = time.perf_counter()
    result = check_sp(lwa(issuer))
    elapsed = time.perf_counter() - started
    assert result == Verification(UNVERIFIED, f"Amazon did not answer within {SHORT:g} s", by="Amazon")
    assert SHORT <= elapsed < SHORT + 0.5
    assert len(issuer.seen("/auth/o2/token")) == 1  # it did ask; the answer just came too late


def test_an_unreachable_lwa_saves_unverified():
    verifier = HttpVerifier(lwa_url=down_url(), lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET,
                            deadline=SHORT)
    assert check_sp(verifier) == Verification(UNVERIFIED, "Amazon could not be reached", by="Amazon")


@pytest.mark.parametrize("client_id, client_secret", [(None, None), (CLIENT_ID, None), (None, CLIENT_SECRET)])
def test_without_both_lwa_settings_nothing_is_checked_or_sent(issuer, client_id, client_secret):
    assert check_sp(lwa(issuer, lwa_client_id=client_id, lwa_client_secret=client_secret)) is None
    assert issuer.requests == []


def test_a_kind_with_no_verifier_and_no_verify_url_is_not_checked(issuer):
    assert lwa(issuer).verify(kind=GENERIC, secret=BEARER, verify_url=None, token_id="g") is None
    assert NoVerifier().verify(kind=SP_API, secret=REFRESH, verify_url=None, token_id="sp") is None
    assert issuer.requests == []


def test_the_verifier_and_settings_keep_the_client_secret_out_of_repr():
    verifier = HttpVerifier(lwa_url="https://api.amazon.com", lwa_client_id=CLIENT_ID,
                            lwa_client_secret=CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(verifier) and "lwa=on" in repr(verifier)
    settings = Settings.from_env({"AMAZON_LWA_CLIENT_ID": CLIENT_ID, "AMAZON_LWA_CLIENT_SECRET": CLIENT_SECRET},
                                 env_file=None)
    assert CLIENT_SECRET not in repr(settings) and CLIENT_SECRET in settings.secret_values()
    assert settings.amazon_lwa_url == "https://api.amazon.com"
    assert HttpVerifier.from_settings(settings).lwa_client_secret == CLIENT_SECRET


# --- a token's verify_url -----------------------------------------------------------------------------

def url_check(issuer: IssuerStandin, path: str, secret: str = BEARER, kind=GENERIC) -> Verification | None:
    return lwa(issuer).verify(kind=kind, secret=secret, verify_url=issuer.url + path, token_id="g")


def test_a_2xx_with_the_bearer_is_verified(issuer):
    assert url_check(issuer, "/me") == Verification(VERIFIED, by="127.0.0.1")
    (seen,) = issuer.seen("/me")
    assert seen.method == "GET" and seen.headers["Authorization"] == f"Bearer {BEARER}"


@pytest.mark.parametrize("path, status", [("/me", 401), ("/status/401", 401), ("/status/403", 403)])
def test_401_and_403_are_refused(issuer, path, status):
    result = url_check(issuer, path, secret="pat_live_wrong" if path == "/me" else BEARER)
    assert result.state == REFUSED and f"(HTTP {status})" in result.reason and "Nothing was saved" in result.reason
    assert BEARER not in result.reason


@pytest.mark.parametrize("path, reason", [
    ("/status/500", "127.0.0.1 answered HTTP 500"),
    ("/status/404", "127.0.0.1 answered HTTP 404"),
    ("/status/429", "127.0.0.1 answered HTTP 429"),
    ("/slow", f"127.0.0.1 did not answer within {SHORT:g} s"),
])
def test_anything_else_saves_unverified(issuer, path, reason):
    assert url_check(issuer, path) == Verification(UNVERIFIED, reason, by="127.0.0.1")


def test_a_redirect_is_never_followed_so_the_bearer_goes_nowhere_else(issuer):
    result = url_check(issuer, "/redirect")
    assert result == Verification(UNVERIFIED, "127.0.0.1 answered with a redirect (HTTP 302), which renewbot does "
                                              "not follow", by="127.0.0.1")
    assert issuer.seen("/elsewhere") == []


def test_an_unreachable_verify_url_saves_unverified():
    verifier = HttpVerifier(lwa_url="https://api.amazon.com", deadline=SHORT)
    result = verifier.verify(kind=GENERIC, secret=BEARER, verify_url=down_url() + "/me", token_id="g")
    assert result == Verification(UNVERIFIED, "127.0.0.1 could not be reached", by="127.0.0.1")


def test_a_verify_url_wins_over_the_kinds_own_check(issuer):
    assert url_check(issuer, "/me", secret=REFRESH, kind=SP_API).state == REFUSED  # not a known Bearer
    assert issuer.seen("/auth/o2/token") == []


@pytest.mark.parametrize("url", ["http://shop.example/me", "ftp://127.0.0.1/me", "https://user:pw@x.example/"])
def test_a_verify_url_a_secret_must_not_go_to_is_not_called(issuer, url):
    result = lwa(issuer).verify(kind=GENERIC, secret=BEARER, verify_url=url, token_id="g")
    assert result == Verification(UNVERIFIED, "its verify_url is not a usable https:// URL")


def test_a_value_that_cannot_be_a_bearer_header_is_not_sent(issuer):
    result = url_check(issuer, "/me", secret="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                       kind=resolve("x509"))
    assert result == Verification(UNVERIFIED, "this certificate can't be sent as a Bearer token to 127.0.0.1",
                                  by="127.0.0.1")
    assert issuer.requests == []


@pytest.mark.parametrize("url, ok", [("https://api.amazon.co.uk/", True), ("http://127.0.0.1:8080", True),
                                     ("http://api.amazon.com", False), ("api.amazon.com", False)])
def test_the_lwa_url_the_client_secret_goes_to_must_be_https_or_local(url, ok):
    if ok:
        assert Settings.from_env({"AMAZON_LWA_URL": url}, env_file=None).amazon_lwa_url == url.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="AMAZON_LWA_URL"):
            Settings.from_env({"AMAZON_LWA_URL": url}, env_file=None)


# --- over real TLS ------------------------------------------------------------------------------------
# The stand-in above speaks plain HTTP on loopback; these make sure an https:// address really gets TLS, so the
# client secret and a Bearer never cross the network in cleartext.

@pytest.fixture
def tls_issuer(tmp_path):
    """The same stand-in behind TLS at https://localhost:PORT (self-signed), and a client context trusting it."""
    cert, key = make_certificate(datetime.now(UTC) + timedelta(days=30), common_name="localhost")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    standin = IssuerStandin(refresh_tokens={REFRESH}, bearers={BEARER})
    # The handshake runs in the request's thread: a client that never speaks TLS can't stall the accept loop.
    standin.server.socket = serving.wrap_socket(standin.server.socket, server_side=True,
                                                do_handshake_on_connect=False)
    standin.url = f"https://localhost:{standin.server.server_address[1]}"
    with standin:
        yield standin, ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))


def test_an_https_verify_url_gets_the_bearer_over_tls_and_only_to_a_trusted_certificate(tls_issuer):
    issuer, trusting = tls_issuer
    untrusting = HttpVerifier(lwa_url="https://api.amazon.com", deadline=2)
    assert untrusting.check_url(issuer.url + "/me", secret=BEARER) == Verification(
        UNVERIFIED, "localhost could not be reached", by="localhost")
    assert issuer.requests == []  # the default context refused the self-signed certificate before any request
    verifier = HttpVerifier(lwa_url="https://api.amazon.com", deadline=2, ssl_context=trusting)
    assert verifier.check_url(issuer.url + "/me", secret=BEARER) == Verification(VERIFIED, by="localhost")
    (seen,) = issuer.seen("/me")
    assert seen.headers["Authorization"] == f"Bearer {BEARER}"


def test_an_https_lwa_gets_the_client_secret_over_tls_and_only_to_a_trusted_certificate(tls_issuer):
    issuer, trusting = tls_issuer
    untrusting = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET,
                              deadline=2)
    assert check_sp(untrusting) == Verification(UNVERIFIED, "Amazon could not be reached", by="Amazon")
    assert issuer.requests == []
    verifier = HttpVerifier(lwa_url=issuer.url, lwa_client_id=CLIENT_ID, lwa_client_secret=CLIENT_SECRET,
                            deadline=2, ssl_context=trusting)
    assert check_sp(verifier) == Verification(VERIFIED, by="Amazon")
    (seen,) = issuer.seen("/auth/o2/token")
    assert seen.form["client_secret"] == CLIENT_SECRET and seen.form["refresh_token"] == REFRESH


# --- the tracked LWA client secret (renewbot.usecases.amazon.lwa_secret_source) -------------------------

STORED = "amzn1.oa2-cs.v1.stored-in-renewbot-9c2e"
TRACKED = StoredSecret(token_id="lwa-secret", value=STORED)
MISTYPED = StoredSecret(token_id="lwa-secret", value="amzn1.oa2-cs.v1.mistyped-on-renewal-4b1a")


def test_a_stored_client_secret_wins_over_the_environments(issuer):
    issuer.client_secret = STORED
    asked: list[int] = []
    verifier = lwa(issuer, stored_lwa_secret=lambda: asked.append(1) or TRACKED)
    assert check_sp(verifier) == Verification(VERIFIED, by="Amazon")
    (seen,) = issuer.seen("/auth/o2/token")
    assert (seen.form["client_id"], seen.form["client_secret"]) == (CLIENT_ID, STORED)
    assert check_sp(verifier).state == VERIFIED and len(asked) == 2  # asked afresh at each check


def test_without_a_stored_secret_the_environments_is_used(issuer):
    assert check_sp(lwa(issuer, stored_lwa_secret=lambda: None)) == Verification(VERIFIED, by="Amazon")
    (seen,) = issuer.seen("/auth/o2/token")
    assert seen.form["client_secret"] == CLIENT_SECRET


def test_with_neither_secret_lwa_stays_off_and_without_a_client_id_the_store_is_not_asked(issuer):
    assert check_sp(lwa(issuer, lwa_client_secret=None, stored_lwa_secret=lambda: None)) is None

    def never() -> str:
        raise AssertionError("asked for a secret without a client id")
    assert check_sp(lwa(issuer, lwa_client_id=None, stored_lwa_secret=never)) is None
    assert issuer.requests == []


def test_only_sp_api_checks_ask_for_the_stored_secret_and_repr_never_does(issuer):
    def never() -> str:
        raise AssertionError("asked for the stored secret")
    verifier = lwa(issuer, stored_lwa_secret=never)
    assert verifier.verify(kind=GENERIC, secret=BEARER, verify_url=f"{issuer.url}/me", token_id="api").state == VERIFIED
    assert verifier.verify(kind=resolve("amazon-lwa-client-secret"), secret=STORED, verify_url=None,
                           token_id="lwa") is None
    assert repr(verifier) == f"HttpVerifier(lwa_url={issuer.url!r}, lwa=on, stored secret first)"


def test_from_settings_takes_the_stored_secret_source():
    settings = Settings.from_env({"AMAZON_LWA_CLIENT_ID": CLIENT_ID}, env_file=None)
    verifier = HttpVerifier.from_settings(settings, stored_lwa_secret=lambda: TRACKED)
    assert verifier.stored_lwa_secret() == TRACKED and verifier.lwa_client_secret is None
    assert "lwa=off, stored secret first" in repr(verifier) and STORED not in repr(verifier)


def test_a_stored_secret_is_never_in_its_repr():
    assert STORED not in repr(TRACKED) and "lwa-secret" in repr(TRACKED)


def test_a_refused_stored_secret_is_retried_once_with_the_environments_and_the_token_named(issuer, caplog):
    """A mistyped renewal of the tracked secret must not stop verification that worked with the environment's."""
    verifier = lwa(issuer, deadline=1.0, stored_lwa_secret=lambda: MISTYPED)
    with caplog.at_level(logging.DEBUG):
        assert check_sp(verifier) == Verification(VERIFIED, by="Amazon")
    assert [seen.form["client_secret"] for seen in issuer.seen("/auth/o2/token")] == [MISTYPED.value, CLIENT_SECRET]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "refused the client secret stored in token lwa-secret" in warning
    assert "accepted AMAZON_LWA_CLIENT_SECRET" in warning and "renew token lwa-secret" in warning
    for secret in (MISTYPED.value, CLIENT_SECRET, REFRESH):
        assert secret not in caplog.text


def test_when_both_secrets_are_refused_one_warning_names_both(issuer, caplog):
    issuer.client_secret = "amzn1.oa2-cs.v1.only-amazon-knows-this-one"
    verifier = lwa(issuer, deadline=1.0, stored_lwa_secret=lambda: MISTYPED)
    with caplog.at_level(logging.DEBUG):
        assert check_sp(verifier) == Verification(UNVERIFIED, LWA_SETTINGS_REFUSED, by="Amazon")
    assert len(issuer.seen("/auth/o2/token")) == 2
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert ("check AMAZON_LWA_CLIENT_ID and the client secret stored in token lwa-secret and "
            "AMAZON_LWA_CLIENT_SECRET (both refused)") in warning
    assert MISTYPED.value not in caplog.text and CLIENT_SECRET not in caplog.text


@pytest.mark.parametrize("env_secret", [None, MISTYPED.value])
def test_no_retry_without_a_different_environment_secret(issuer, caplog, env_secret):
    verifier = lwa(issuer, deadline=1.0, lwa_client_secret=env_secret, stored_lwa_secret=lambda: MISTYPED)
    with caplog.at_level(logging.WARNING):
        assert check_sp(verifier).reason == LWA_SETTINGS_REFUSED
    assert len(issuer.seen("/auth/o2/token")) == 1
    assert "check AMAZON_LWA_CLIENT_ID and the client secret stored in token lwa-secret;" in caplog.text


def test_a_refused_person_token_is_not_retried(issuer):
    """Only a refused client is worth a second try: invalid_grant is about the person's refresh token."""
    issuer.client_secret = STORED
    result = check_sp(lwa(issuer, deadline=1.0, stored_lwa_secret=lambda: TRACKED), UNKNOWN)
    assert result.state == REFUSED and len(issuer.seen("/auth/o2/token")) == 1


def test_no_retry_when_too_little_of_the_deadline_is_left(issuer, monkeypatch):
    """The retry gets only what is left of the one deadline, so a submission still fits in Slack's 3 s."""
    from renewbot.usecases import verify
    monkeypatch.setattr(verify, "MIN_RETRY_SECONDS", 1.5)  # more than the 1.0 s deadline leaves after any answer
    result = check_sp(lwa(issuer, deadline=1.0, stored_lwa_secret=lambda: MISTYPED))
    assert result.reason == LWA_SETTINGS_REFUSED and len(issuer.seen("/auth/o2/token")) == 1
