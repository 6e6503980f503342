"""SP-API re-authorization through Amazon's website authorization workflow: nobody handles the refresh token.

The person picks accounts and flags in Slack as for any renewal; renewbot then links them to Amazon's consent page
with a one-time `state` (renewbot.usecases.pending: random, stored hashed, 15 minutes, once). Amazon sends their
browser back to `{PUBLIC_URL}/oauth/amazon/callback` with the state, the seller's id and an authorization code;
renewbot exchanges the code at Login with Amazon for the refresh token (here) and applies the renewal
(renewbot.runtime.oauth_callback). The refresh token goes from Amazon to renewbot's database, encrypted.

Which kinds are renewed this way is the kinds table's `authorization` ("amazon"). Self-authorized private apps
have no such flow: without AMAZON_SPAPI_APP_ID the kind falls back to the private page (or the modal).

The code exchange is bounded like verification (renewbot.usecases.verify): a deadline, a response size cap, no
redirects followed; the client secret is the one renewbot tracks (renewbot.usecases.amazon) when it tracks one.
Nothing here logs the code, the state, the client secret or the refresh token.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from urllib.parse import urlencode

from renewbot.domain.kinds import MAX_SECRET, resolve
from renewbot.domain.marketplaces import MARKETPLACES, marketplace
from renewbot.usecases.renewal import RenewalOutcome
from renewbot.usecases.verify import (
    LWA_PATH,
    MIN_RETRY_SECONDS,
    HttpVerifier,
    StoredSecret,
    _Answer,
    _client_refused,
    _error_code,
    _json_object,
    _request,
    _Unanswered,
)

logger = logging.getLogger(__name__)

AUTHORIZATION = "amazon"  # Kind.authorization of the kinds renewed this way
VIA = "amazon"  # Renewal.via of such a renewal
AUTHORIZATION_DAYS = 365  # an SP-API authorization lasts a year from the day it is given
CALLBACK_PATH = "/oauth/amazon/callback"
CONSENT_PATH = "/apps/authorize/consent"
DEFAULT_MARKETPLACE = "us"
# Not Slack's 3 s: a browser waits on this, and a code not exchanged is one the person must ask for again.
EXCHANGE_DEADLINE_SECONDS = 8.0
SELLING_PARTNER_ID_RE = re.compile(r"[A-Z0-9]{1,64}")

# Why an exchange failed, as the callback page says it (never a response body, never the code).
INVALID_GRANT, INVALID_CLIENT, BAD_REQUEST, UNREACHABLE, UNEXPECTED, NOT_CONFIGURED = (
    "invalid_grant", "invalid_client", "invalid_request", "unreachable", "unexpected", "not_configured")


def uses_amazon_authorization(token, entry) -> bool:
    """Whether `token` (anything with .kind) is renewed through Amazon's consent page under these settings
    (renewbot.runtime.config.SecretEntrySettings): its kind says so, and renewbot has an app id and a public URL
    for Amazon to send the person back to."""
    return (resolve(token.kind).authorization == AUTHORIZATION
            and bool(entry.public_url) and bool(entry.amazon_spapi_app_id))


@dataclass(frozen=True)
class SellerCentral:
    base: str  # no trailing slash
    named: bool  # False: the token names no (known) marketplace and US was assumed


def seller_central(token, entry) -> SellerCentral:
    """Where the consent page is: AMAZON_SELLER_CENTRAL_URL, else the token's marketplace's, else the US one."""
    if entry.amazon_seller_central_url:
        return SellerCentral(entry.amazon_seller_central_url.rstrip("/"), named=True)
    place = marketplace(getattr(token, "marketplace", None))
    if place is None:
        return SellerCentral(MARKETPLACES[DEFAULT_MARKETPLACE].seller_central, named=False)
    return SellerCentral(place.seller_central, named=True)


def seller_central_note(token, entry) -> str | None:
    """What the authorize view says when the link's Seller Central was assumed, not known (None when known)."""
    if seller_central(token, entry).named:
        return None
    us = MARKETPLACES[DEFAULT_MARKETPLACE]
    return (f"This token names no marketplace, so the link opens {us.name} Seller Central. If the seller account "
            "is in another region, an admin can set `marketplace:` on the token in the import file.")


def consent_url(*, token, state: str, entry) -> str:
    """Amazon's consent page for renewbot's app, carrying `state` (+ version=beta while the app is a draft)."""
    query = {"application_id": entry.amazon_spapi_app_id, "state": state}
    if entry.amazon_spapi_draft:
        query["version"] = "beta"
    return f"{seller_central(token, entry).base}{CONSENT_PATH}?{urlencode(query)}"


def authorized_until(today: date) -> date:
    """The expiry of an authorization given today."""
    return today + timedelta(days=AUTHORIZATION_DAYS)


def redirect_uri(public_url: str) -> str:
    """The callback as registered on the app: LWA refuses an exchange whose redirect_uri differs."""
    return public_url.rstrip("/") + CALLBACK_PATH


def wrong_seller(*, stored: str | None, sent: str) -> bool:
    """Amazon sent back another seller than the one the token is for (none stored: nothing to compare with)."""
    return bool(stored) and stored != sent


class WrongSeller(Exception):
    """Amazon sent back another seller than the one stored for the token: nothing is changed."""

    def __init__(self, *, stored: str, sent: str) -> None:
        super().__init__(f"seller {sent} is not {stored}")
        self.stored = stored
        self.sent = sent


def settle_seller(token, sent: str) -> None:
    """In the renewal's transaction: refuses another seller than the stored one, and stores `sent` when none is
    stored yet (the first authorization names the seller every later one must match). Raises WrongSeller."""
    if wrong_seller(stored=token.selling_partner_id, sent=sent):
        raise WrongSeller(stored=token.selling_partner_id, sent=sent)
    if not token.selling_partner_id:
        token.selling_partner_id = sent


@dataclass(frozen=True)
class AmazonOutcome(RenewalOutcome):
    """A renewal authorized with Amazon, and for which seller (named in the thread's confirmation)."""
    seller: str | None = None


def with_seller(outcome: RenewalOutcome, seller: str) -> AmazonOutcome:
    return AmazonOutcome(**{f.name: getattr(outcome, f.name) for f in fields(outcome)}, seller=seller)


class ExchangeFailed(Exception):
    """The code could not be exchanged: `reason` is one of the constants above, `message` says it to a person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LwaClient:
    """What an exchange signs in with: the app's client id, the environment's secret, and the tracked one's source
    (renewbot.usecases.amazon.lwa_secret_source) which wins when it has a secret."""
    lwa_url: str
    client_id: str | None
    env_secret: str | None = None
    stored_secret: Callable[[], StoredSecret | None] | None = None
    ssl_context: ssl.SSLContext | None = None  # None: the system's CAs; a test trusts its own

    def __repr__(self) -> str:  # the client secret must not reach a log line through repr()
        return f"LwaClient(lwa_url={self.lwa_url!r}, client_id={'set' if self.client_id else 'unset'})"

    @classmethod
    def from_settings(cls, settings, *, stored_secret: Callable[[], StoredSecret | None] | None = None) -> LwaClient:
        return cls(lwa_url=settings.amazon_lwa_url.rstrip("/"), client_id=settings.amazon_lwa_client_id,
                   env_secret=settings.amazon_lwa_client_secret, stored_secret=stored_secret)

    @classmethod
    def from_verifier(cls, verifier) -> LwaClient | None:
        """The same client verification signs in with (Deps.verifier, an HttpVerifier); None for another verifier."""
        if not isinstance(verifier, HttpVerifier):
            return None
        return cls(lwa_url=verifier.lwa_url, client_id=verifier.lwa_client_id, env_secret=verifier.lwa_client_secret,
                   stored_secret=verifier.stored_lwa_secret, ssl_context=verifier.ssl_context)


def exchange_code(*, code: str, client: LwaClient, public_url: str,
                  deadline: float = EXCHANGE_DEADLINE_SECONDS) -> str:
    """The refresh token Amazon gives for this authorization code; raises ExchangeFailed.

    A tracked client secret LWA refuses is retried once with AMAZON_LWA_CLIENT_SECRET (as verification does):
    LWA refuses the client before it looks at the code, so the code is still unspent then.
    """
    stored = client.stored_secret() if client.stored_secret is not None else None
    secret = stored.value if stored else client.env_secret
    if not (client.client_id and secret):
        logger.warning("an Amazon authorization came back but renewbot has no LWA client to exchange it with: "
                       "set AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET (or track the client secret)")
        raise _failure(NOT_CONFIGURED)
    started = time.monotonic()
    answer = _post(client, code=code, secret=secret, public_url=public_url, deadline=deadline)
    secret_from = f"the client secret stored in token {stored.token_id}" if stored else "AMAZON_LWA_CLIENT_SECRET"
    left = deadline - (time.monotonic() - started)
    if (stored and client.env_secret and client.env_secret != stored.value and _client_refused(answer)
            and left >= MIN_RETRY_SECONDS):
        retry = _post(client, code=code, secret=client.env_secret, public_url=public_url, deadline=left)
        if not _client_refused(retry):
            logger.warning("Amazon LWA refused %s for an authorization code exchange and accepted "
                           "AMAZON_LWA_CLIENT_SECRET, which was used instead: renew token %s with the app's current "
                           "client secret", secret_from, stored.token_id)
            answer, secret_from = retry, "AMAZON_LWA_CLIENT_SECRET"
        else:
            secret_from += " and AMAZON_LWA_CLIENT_SECRET (both refused)"
    return _refresh_token(answer, secret_from)


def _post(client: LwaClient, *, code: str, secret: str, public_url: str, deadline: float) -> _Answer:
    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(public_url),
                      "client_id": client.client_id, "client_secret": secret}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", "Accept": "application/json",
               "User-Agent": "renewbot"}
    try:
        return _request(client.lwa_url + LWA_PATH, method="POST", headers=headers, body=body, deadline=deadline,
                        ssl_context=client.ssl_context)
    except _Unanswered as exc:
        why = f"did not answer within {deadline:g} s" if exc.timed_out else "could not be reached"
        logger.warning("Amazon LWA %s while exchanging an authorization code", why)
        raise ExchangeFailed(UNREACHABLE, f"Amazon's sign-in service (LWA) {why}. Nothing was changed: press "
                                          "the Authorize with Amazon link again.") from None


def _refresh_token(answer: _Answer, secret_from: str) -> str:
    code = _error_code(answer.body)
    if answer.status == 200:
        token = _json_object(answer.body).get("refresh_token")
        kind = resolve("amazon-sp-api")
        if isinstance(token, str) and 0 < len(token) <= MAX_SECRET and kind.mismatch(token) is None:
            return token
        logger.warning("Amazon LWA answered an authorization code exchange without a usable refresh token")
        raise _failure(UNEXPECTED)
    if code == "invalid_grant":
        raise _failure(INVALID_GRANT)
    if _client_refused(answer):
        logger.warning("Amazon LWA refused renewbot's client credentials (HTTP %s, %s) for an authorization code "
                       "exchange: check AMAZON_LWA_CLIENT_ID and %s", answer.status, code or "no error code",
                       secret_from)
        raise _failure(INVALID_CLIENT)
    if code in ("invalid_request", "unsupported_grant_type"):
        logger.warning("Amazon LWA refused an authorization code exchange as malformed (%s): check that the app's "
                       "OAuth redirect URI is PUBLIC_URL + %s", code, CALLBACK_PATH)
        raise _failure(BAD_REQUEST)
    logger.warning("Amazon LWA answered an authorization code exchange with HTTP %s (%s)", answer.status,
                   code or "no error code")
    raise _failure(UNEXPECTED, f" (HTTP {answer.status})")


_MESSAGES = {
    INVALID_GRANT: "Amazon refused the authorization code (invalid_grant): it expired (codes last a few minutes) or "
                   "was already used. Nothing was changed: press the Authorize with Amazon link again.",
    INVALID_CLIENT: "Amazon refused renewbot's own sign-in settings (its LWA client id or secret), not your "
                    "authorization. Nothing was changed; an operator has been told in renewbot's log.",
    BAD_REQUEST: "Amazon refused the exchange as malformed: renewbot's callback address may not match the app's "
                 "registered redirect URI. Nothing was changed; an operator has been told in renewbot's log.",
    UNEXPECTED: "Amazon answered the exchange in a way renewbot did not expect{detail}. Nothing was changed: try "
                "the Authorize with Amazon link again.",
    NOT_CONFIGURED: "renewbot has no Amazon sign-in client configured (AMAZON_LWA_CLIENT_ID and its secret). "
                    "Nothing was changed; ask an operator.",
}


def _failure(reason: str, detail: str = "") -> ExchangeFailed:
    return ExchangeFailed(reason, _MESSAGES[reason].format(detail=detail))
