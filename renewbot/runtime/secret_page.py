"""The one-time private entry page: GET and POST /renew/<key> (SECRET_ENTRY=page), as a WSGI app web.py routes to.

A GET shows the form and consumes nothing: link previews and scanners fetch URLs. Only a POST carrying the
page's form token and a valid secret consumes the link, in the renewal's own transaction
(renewbot.usecases.outside_renewal.complete); the thread is answered after the commit, as for the Slack form.
The key is in the path: it is never logged, and every answer carries no-store and a strict CSP (see
secret_page_html.HEADERS). Unknown keys get 404; used and expired ones 410, and nothing more is said.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs

from handlers.access import Access
from handlers.lookups import FormLookups
from handlers.views import announce
from renewbot.blocks.secret_link import PAGE_PATH
from renewbot.domain.validation import EXPIRY_FIELD, SECRET_FIELD
from renewbot.errors import RenewalRejected, StaleRenewal
from renewbot.runtime.api import content_length
from renewbot.runtime.deps import Deps
from renewbot.runtime.log_context import log_ids
from renewbot.runtime.secret_page_html import CSRF_NAME, EXPIRY_NAME, HEADERS, SECRET_NAME, form_page, message_page
from renewbot.usecases import pending
from renewbot.usecases.outside_renewal import NotAllowed, Opened, complete, open_pending
from renewbot.usecases.pending import PendingRefused

logger = logging.getLogger(__name__)

PAGE_PREFIX = PAGE_PATH
KEY_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")  # secrets.token_urlsafe(32) is 43 of these
FORM_TYPE = "application/x-www-form-urlencoded"
# The secret is at most MAX_SECRET (3,000) characters: percent-encoded, under 9 KB, plus the form token and date.
MAX_PAGE_BODY_BYTES = 32 * 1024
MayAct = Callable[[str, str, Sequence[str]], bool]

_GONE = ("This link no longer works", f"It was used, or it expired (a link works for "
         f"{int(pending.PAGE_TTL.total_seconds() // 60)} minutes). Nothing was changed by opening it. To renew, "
         "press Renew in Slack again.")
_UNKNOWN = ("This link is not valid", "Check that you copied the whole link, or press Renew in Slack again.")


def may_act_for(access: Access, lookups: FormLookups) -> MayAct:
    """The owners check the Slack form makes, for a person named by a pending renewal (the page has no Slack
    identity of its own: the link is bound to whoever asked for it)."""
    def may_act(user_id: str, token_id: str, owners: Sequence[str]) -> bool:
        return access.decide(user_id, owners, lookups.channel_now(token_id)).allowed
    return may_act


def _answer(start_response, status: str, body: bytes, *, extra: tuple = ()):
    start_response(status, [*HEADERS, ("Content-Length", str(len(body))), *extra])
    return [body]


def _message(start_response, status: str, title: str, text: str):
    return _answer(start_response, status, message_page(title, text))


def _refused(start_response, reason: str):
    if reason in (pending.USED, pending.EXPIRED):
        return _message(start_response, "410 Gone", *_GONE)
    return _message(start_response, "404 Not Found", *_UNKNOWN)  # unknown, or another flow's key: say no more


def _stale(start_response, token_name: str):
    return _message(start_response, "409 Conflict", "Renewed meanwhile",
                    f"{token_name} was renewed or changed since you pressed Renew: nothing was changed. Press Renew "
                    "in Slack again if it still needs renewing.")


def _form(start_response, status: str, opened: Opened, *, date_value: str | None = None,
          errors: dict[str, str] | None = None):
    found, kind = opened.pending, opened.kind
    default = found.choices.expiry.isoformat() if found.choices.expiry else ""
    body = form_page(token_name=opened.token_name, kind_label=kind.label, value_label=kind.value_label,
                     multiline=kind.multiline, date_value=default if date_value is None else date_value,
                     date_optional=kind.expiry_from_value is not None, csrf=pending.form_token(found),
                     expires_at=f"{found.expires_at:%H:%M}", errors=errors)
    return _answer(start_response, status, body)


def _one(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values and len(values) == 1 else None


def make_secret_page(*, deps: Deps, client, may_act: MayAct, max_body_bytes: int):
    """The WSGI app for PAGE_PREFIX. `client` answers in Slack after a renewal (the app's); `may_act` re-checks
    ownership at completion (may_act_for)."""
    body_limit = min(max_body_bytes, MAX_PAGE_BODY_BYTES)

    def page(environ, start_response):
        key = environ.get("PATH_INFO", "")[len(PAGE_PREFIX):]
        if not KEY_RE.fullmatch(key):
            return _message(start_response, "404 Not Found", *_UNKNOWN)
        method = environ.get("REQUEST_METHOD", "")
        try:
            if method in ("GET", "HEAD"):
                return _show(start_response, key)
            if method == "POST":
                return _submit(environ, start_response, key)
        except Exception:
            logger.exception("the private entry page failed; nothing was changed")
            return _message(start_response, "500 Internal Server Error", "Something went wrong",
                            "renewbot could not handle this; nothing was changed. Try again in a moment.")
        return _answer(start_response, "405 Method Not Allowed", message_page("Not allowed", "Use the form."),
                       extra=(("Allow", "GET, HEAD, POST"),))

    def _show(start_response, key: str):
        try:
            opened = open_pending(engine=deps.engine, key=key, kind=pending.PAGE, now=deps.clock())
        except PendingRefused as exc:
            return _refused(start_response, exc.reason)
        except StaleRenewal as exc:  # the token moved on: a form that could only be refused is not offered
            return _stale(start_response, exc.token_name)
        return _form(start_response, "200 OK", opened)

    def _submit(environ, start_response, key: str):
        length = content_length(environ)
        if length is None:
            return _message(start_response, "411 Length Required", "Not sent", "Submit the form again.")
        if length > body_limit:
            return _message(start_response, "413 Content Too Large", "Too large",
                            "That is far longer than any token: nothing was changed.")
        if (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower() != FORM_TYPE:
            return _message(start_response, "415 Unsupported Media Type", "Not sent", "Submit the form again.")
        try:
            opened = open_pending(engine=deps.engine, key=key, kind=pending.PAGE, now=deps.clock())
        except PendingRefused as exc:
            return _refused(start_response, exc.reason)
        except StaleRenewal as exc:
            return _stale(start_response, exc.token_name)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return _message(start_response, "400 Bad Request", "Not readable", "Submit the form again.")
        if not pending.form_token_ok(opened.pending, _one(fields, CSRF_NAME)):
            return _message(start_response, "403 Forbidden", "Not sent from renewbot's page",
                            "This form did not come from the page renewbot showed. Open the link again: nothing "
                            "was changed.")
        with log_ids(token=opened.pending.token_id):
            return _renew(start_response, key, opened, secret=_one(fields, SECRET_NAME),
                          expiry=_one(fields, EXPIRY_NAME))

    def _renew(start_response, key: str, opened: Opened, *, secret: str | None, expiry: str | None):
        try:
            outcome = complete(engine=deps.engine, box=deps.box, pending_key=key, kind=pending.PAGE, secret=secret,
                               expiry_override=expiry, now=deps.clock(), may_act=may_act, verifier=deps.verifier,
                               via=pending.PAGE, metrics=deps.metrics)
        except PendingRefused as exc:
            return _refused(start_response, exc.reason)
        except NotAllowed:
            return _message(start_response, "403 Forbidden", "You can't renew this token",
                            f"You are no longer one of {opened.token_name}'s owners. Nothing was changed. "
                            "Ask an admin to add you to the token's owners in the import file.")
        except StaleRenewal:
            return _stale(start_response, opened.token_name)
        except RenewalRejected as exc:
            errors = {SECRET_NAME if f == SECRET_FIELD else EXPIRY_NAME if f == EXPIRY_FIELD else f: m
                      for f, m in exc.errors.items()}
            return _form(start_response, "422 Unprocessable Content", opened, date_value=expiry, errors=errors)
        with log_ids(renewal=outcome.renewal_id):
            logger.info("token %s renewed by %s on the private page: %s -> %s (%s)", outcome.token_id,
                        outcome.renewed_by, outcome.old_expiry.date(), outcome.new_expiry.date(),
                        outcome.verification or "not checked")
            try:
                announce(client, outcome, deps=deps)
            except Exception:  # committed: the page must not say "nothing was changed"
                logger.exception("renewal of %s saved, but announcing it failed", outcome.token_id)
        return _message(start_response, "200 OK", "Renewed: you can close this tab",
                        f"{opened.token_name} now expires on {outcome.new_expiry:%Y-%m-%d}. renewbot confirms in "
                        "the notice's thread in Slack.")

    return page
