"""GET /oauth/amazon/callback: where Amazon's consent page sends the person back (renewbot.usecases.amazon_oauth).

In this order, each refusal a plain page that changes nothing:
1. the query: bounded, each parameter once, each of the expected shape;
2. the state: a pending Amazon renewal that exists, is unused and unexpired (read, not consumed);
3. the seller: when the token names its `selling_partner_id`, Amazon must have sent that one (the guide's first
   pitfall: someone still signed in to another seller account authorizes that one);
4. the code, exchanged at LWA for the refresh token (outside any transaction);
5. one transaction (outside_renewal.complete): the state consumed, the owner and the seller re-checked (the
   seller stored when the token had none), the renewal applied.
Then, after the commit, the thread confirmation and "Renewed: you can close this tab".

Before the exchange the token's version and owners are checked too (a code spent on a renewal that would be
refused is wasted), and the state is claimed in the database (PendingRenewal.claimed_until, committed first): a
second callback with the same state, in any replica, is told to wait (a code spent twice can make Amazon revoke
what it issued). A refused exchange releases the claim and does not consume the state: nothing changed, and the
same link (valid 15 minutes, once) can be pressed again for a new code.

The state, the code and the refresh token are never logged; nor is the query string.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import parse_qsl

from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.runtime.log_context import log_ids
from renewbot.runtime.secret_page_html import HEADERS, message_page
from renewbot.usecases import pending
from renewbot.usecases.amazon_oauth import (
    CALLBACK_PATH,
    INVALID_GRANT,
    NOT_CONFIGURED,
    SELLING_PARTNER_ID_RE,
    VIA,
    ExchangeFailed,
    LwaClient,
    WrongSeller,
    authorized_until,
    exchange_code,
    with_seller,
    wrong_seller,
)
from renewbot.usecases.outside_renewal import NotAllowed, complete, open_pending
from renewbot.usecases.verify import VERIFIED, Verification
from storage import queries
from storage.db import session_scope

logger = logging.getLogger(__name__)

OAUTH_CALLBACK_PATH = CALLBACK_PATH
MAX_QUERY = 4096  # Amazon's answer is three short values; a state is 43 characters, a code a few hundred
MAX_FIELDS = 8
EXPECTED = ("state", "selling_partner_id", "spapi_oauth_code")
# Sent by Amazon for hybrid (MWS + SP-API) apps; renewbot keeps no MWS token from it: accepted and ignored.
IGNORED = ("mws_auth_token",)
_STATE_RE = re.compile(r"[A-Za-z0-9_-]{16,200}")
_CODE_RE = re.compile(r"[A-Za-z0-9._~+/=-]{1,1024}")

RENEW_AGAIN = "Press Renew in Slack again for a new link."
_REFUSED = {
    pending.UNKNOWN: ("404 Not Found", "This authorization is not one renewbot started",
                      "renewbot has no renewal waiting for this link: it may be mistyped, or not from renewbot. "
                      "Nothing was changed."),
    pending.EXPIRED: ("410 Gone", "This authorization link has expired",
                      f"The link was valid for {pending.AMAZON_TTL.seconds // 60} minutes. Nothing was changed. "
                      + RENEW_AGAIN),
    pending.USED: ("410 Gone", "This authorization link was already used",
                   "Each link renews once, and this one already did (or another tab is finishing it). "
                   "Nothing else was changed; the thread in Slack says what was renewed."),
    pending.FOREIGN: ("403 Forbidden", "This link is not an Amazon authorization",
                      "It belongs to another renewal or another person. Nothing was changed."),
}


def page(start_response, status: str, title: str, text: str) -> list[bytes]:
    """A plain answer, with the private page's headers (no-store, CSP, DENY, no-referrer) on every status."""
    body = message_page(title, text)
    start_response(status, [*HEADERS, ("Content-Length", str(len(body)))])
    return [body]


def read_query(raw: str) -> dict[str, str] | str:
    """The callback's parameters, or why the query is refused."""
    if len(raw) > MAX_QUERY:
        return "The address is too long to be Amazon's answer."
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return "The address carries too many parameters to be Amazon's answer."
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        return "The address repeats a parameter: it is not Amazon's answer."
    params = dict(pairs)
    if "spapi_oauth_code" not in params and "error" in params:
        return "Amazon did not authorize the app (the consent was cancelled or refused)."
    if missing := [name for name in EXPECTED if not params.get(name)]:
        return f"The address lacks {', '.join(missing)}: open the link from Slack, and confirm on Amazon's page."
    if not (_STATE_RE.fullmatch(params["state"]) and _CODE_RE.fullmatch(params["spapi_oauth_code"])
            and SELLING_PARTNER_ID_RE.fullmatch(params["selling_partner_id"])):
        return "The address's parameters are not of the shape Amazon sends."
    return {name: params[name] for name in EXPECTED}


class _Issued:
    """The verifier for a refresh token Amazon itself just issued: the exchange was the check."""

    def verify(self, **_) -> Verification:
        return Verification(VERIFIED, by="Amazon")


def make_oauth_callback(*, deps, client, may_act: Callable[[str, str, Sequence[str]], bool],
                        announce: Callable | None = None, lwa: LwaClient | None = None):
    """The WSGI app for OAUTH_CALLBACK_PATH. `may_act(user_id, token_id, owners)`: the owner re-check at completion.
    `announce(client, outcome, deps=deps)`: the thread confirmation (handlers.views.announce by default).
    `lwa`: how the code is exchanged; by default the client deps.verifier signs in to LWA with (the tracked client
    secret first, then AMAZON_LWA_CLIENT_SECRET). The redirect_uri is deps.entry.public_url's callback."""
    if announce is None:
        from handlers.views import announce
    lwa = lwa or LwaClient.from_verifier(deps.verifier) or LwaClient(lwa_url="", client_id=None)
    public_url = deps.entry.public_url or ""

    def callback(environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [*HEADERS, ("Allow", "GET"), ("Content-Length", "0")])
            return [b""]
        params = read_query(environ.get("QUERY_STRING", ""))
        if isinstance(params, str):
            return page(start_response, "400 Bad Request", "Not renewed", params + " Nothing was changed.")
        try:
            return _complete(start_response, params)
        except Exception:  # never waitress's bare 500: our page and headers; never the query in the log
            logger.exception("the Amazon authorization callback failed")
            return page(start_response, "500 Internal Server Error", "Something went wrong",
                        "renewbot could not handle this. If the thread in Slack does not confirm the renewal, "
                        + RENEW_AGAIN)

    def _complete(start_response, params: dict[str, str]):
        try:
            opened = open_pending(engine=deps.engine, key=params["state"], kind=pending.AMAZON, now=deps.clock())
        except pending.PendingRefused as exc:
            logger.info("an Amazon authorization came back with a state renewbot refused (%s)", exc.reason)
            return page(start_response, *_REFUSED[exc.reason])
        except StaleRenewal as exc:
            return _stale(start_response, exc.token_name)
        found, seller = opened.pending, params["selling_partner_id"]
        with log_ids(token=found.token_id):
            with session_scope(deps.engine, commit=False) as session:
                token = queries.get_token(session=session, token_id=found.token_id)
                expected = token.selling_partner_id if token is not None else None
            if wrong_seller(stored=expected, sent=seller):
                return _wrong_seller(start_response, opened, found, expected=expected, sent=seller)
            # Before Amazon's code is spent (a Slack call: no transaction open); completion checks again.
            if not may_act(found.user_id, found.token_id, opened.owners):
                return _not_owner(start_response, opened)
            with session_scope(deps.engine) as session:  # committed before the exchange: seen by every replica
                claimed = pending.claim(session=session, pending=found, now=deps.clock())
            if not claimed:
                return page(start_response, "409 Conflict", "Already in progress",
                            "Another tab is completing this authorization: wait for it. Nothing else was changed.")
            try:
                refresh = exchange_code(code=params["spapi_oauth_code"], client=lwa, public_url=public_url)
            except ExchangeFailed as exc:
                with session_scope(deps.engine) as session:  # nothing was spent: the link can be pressed again
                    pending.release(session=session, pending=found)
                logger.info("Amazon authorization for token %s by %s: the code exchange failed (%s); nothing changed",
                            found.token_id, found.user_id, exc.reason)
                status = "400 Bad Request" if exc.reason == INVALID_GRANT else (
                    "503 Service Unavailable" if exc.reason == NOT_CONFIGURED else "502 Bad Gateway")
                return page(start_response, status, "Not renewed", exc.message)
            # A fresh clock: the exchange took time, and the state may have expired during it.
            return _apply(start_response, params["state"], opened, refresh, seller, deps.clock())

    def _apply(start_response, state: str, opened, refresh: str, seller: str, now: datetime):
        found = opened.pending
        expiry = authorized_until(now.date()).isoformat()
        try:
            outcome = complete(engine=deps.engine, box=deps.box, pending_key=state,
                               kind=pending.AMAZON, secret=refresh, expiry_override=expiry, now=now,
                               may_act=may_act, verifier=_Issued(), via=VIA, metrics=deps.metrics, seller=seller)
        except pending.PendingRefused as exc:
            return page(start_response, *_REFUSED[exc.reason])
        except WrongSeller as exc:
            return _wrong_seller(start_response, opened, found, expected=exc.stored, sent=exc.sent)
        except NotAllowed:
            return _not_owner(start_response, opened)
        except StaleRenewal:
            return _stale(start_response, opened.token_name)
        except RenewalRejected as exc:
            return page(start_response, "409 Conflict", "Not renewed",
                        " ".join(exc.errors.values()) + f" Nothing was changed. {RENEW_AGAIN}")
        except Exception:
            logger.exception("renewal of %s through Amazon's authorization failed; nothing was changed",
                             found.token_id)
            return page(start_response, "500 Internal Server Error", "Not renewed",
                        "renewbot could not save this; nothing was changed. " + RENEW_AGAIN)
        outcome = with_seller(outcome, seller)
        with log_ids(renewal=outcome.renewal_id):
            logger.info("token %s renewed by %s through Amazon's authorization (seller %s): %s -> %s",
                        outcome.token_id, outcome.renewed_by, seller, outcome.old_expiry.date(),
                        outcome.new_expiry.date())
            try:
                announce(client, outcome, deps=deps)
            except Exception:  # committed: a lost confirmation never undoes it
                logger.exception("renewal of %s saved, but announcing it failed", outcome.token_id)
        return page(start_response, "200 OK", "Renewed: you can close this tab",
                    f"{opened.token_name} now expires on {outcome.new_expiry:%Y-%m-%d}. renewbot confirms it in "
                    "Slack, in the notice's thread.")

    def _wrong_seller(start_response, opened, found, *, expected: str, sent: str):
        logger.warning("Amazon authorization for token %s by %s came from seller %s, not %s: refused",
                       found.token_id, found.user_id, sent, expected)
        return page(start_response, "409 Conflict", "You authorized a different seller account",
                    f"Amazon sent back seller {sent}, but {opened.token_name} is for seller {expected}. "
                    "Nothing was changed. Log out of every Amazon seller account, sign in to Seller Central "
                    f"as {expected}, and press Authorize with Amazon again (or Renew in Slack if the link "
                    "has expired).")

    def _not_owner(start_response, opened):
        logger.info("Amazon authorization for token %s: %s may no longer renew it; nothing changed",
                    opened.pending.token_id, opened.pending.user_id)
        return page(start_response, "403 Forbidden", "Not renewed",
                    f"You are no longer one of {opened.token_name}'s owners, so nothing was changed.")

    def _stale(start_response, token_name: str):
        return page(start_response, "409 Conflict", "Not renewed",
                    f"{token_name} changed since you pressed Renew (someone renewed it, or its settings "
                    f"were imported again). Nothing was changed. {RENEW_AGAIN}")

    return callback
