"""The inbound API under /api/v1/ (Bearer keys from `renewbot api-key create`), as a WSGI app web.py routes to.

`POST /api/v1/accounts/{id}/state`: the platform reports an account's state. Every answer is JSON; errors are
`{"error": "..."}`. Everything from outside is bounded before it is looked at: the path, the Authorization
header, the body (Content-Length required, at most MAX_API_BODY_BYTES), and the key is checked before the body
is read, so a caller without one never gets renewbot to read or parse anything it sends.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from renewbot.blocks.notice import notice_blocks, notice_text
from renewbot.runtime.config import DEFAULT_MAX_BODY_BYTES
from renewbot.runtime.deps import utc_now
from renewbot.usecases.account_state import ReportRejected, apply_report, notice_edits, parse_report
from renewbot.usecases.apikeys import authenticate, bearer_key
from storage.db import session_scope

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
# PATH_INFO arrives percent-decoded, as latin-1 text of the raw bytes; the id is decoded as UTF-8 below.
STATE_PATH_RE = re.compile(r"/api/v1/accounts/([^/]{1,800})/state")
MAX_ACCOUNT_ID = 200  # Account.id's column
# A state report is well under 1 KiB; MAX_BODY_BYTES (Slack's bound) is far more than it can need.
MAX_API_BODY_BYTES = 16 * 1024
STATE_SCOPE = "state"


class _ThenRun:
    """A response body that runs `after` once the server has sent it (PEP 3333 calls close() after the
    last byte): the caller has its answer before renewbot talks to Slack, and Slack cannot fail it."""

    def __init__(self, data: bytes, after: Callable[[], None]) -> None:
        self._data, self._after = data, after

    def __iter__(self) -> Iterator[bytes]:
        yield self._data

    def close(self) -> None:
        try:
            self._after()
        except Exception:
            logger.exception("after an account state report: the follow-up failed")


def _respond(start_response, status: str, body: dict, *, headers: tuple = (),
             after: Callable[[], None] | None = None):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), *headers])
    return [data] if after is None else _ThenRun(data, after)


def _account_id(raw: str) -> str | None:
    try:
        account_id = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return account_id if len(account_id) <= MAX_ACCOUNT_ID else None


def _content_length(environ) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def edit_open_notices(engine: Engine, client: WebClient, token_ids: tuple[str, ...], now: datetime) -> int:
    """Re-renders the posted open notices of these tokens with their accounts as stored now; returns how many
    Slack took. Read afresh (not from the report's transaction), so the last edit shows the latest state even
    when two reports race. A message Slack will not edit is logged and left: the next notice shows it right."""
    with session_scope(engine) as session:
        edits = notice_edits(session=session, token_ids=token_ids)
    done = 0
    for e in edits:
        try:
            client.chat_update(channel=e.channel, ts=e.ts, text=notice_text(e.token, e.stage, now),
                               blocks=notice_blocks(e.token, e.accounts, e.stage, now, e.kind))
            done += 1
        except Exception:
            logger.exception("could not edit notice %s in %s to show an account's new state", e.ts, e.channel)
    return done


def make_api_app(engine: Engine, client: WebClient, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 clock: Callable[[], datetime] = utc_now):
    """The WSGI app for everything under API_PREFIX; `client` edits notices after a report changed an account."""
    body_limit = min(max_body_bytes, MAX_API_BODY_BYTES)

    def api(environ, start_response):
        match = STATE_PATH_RE.fullmatch(environ.get("PATH_INFO", ""))
        account_id = _account_id(match.group(1)) if match else None
        if account_id is None:
            return _respond(start_response, "404 Not Found", {"error": "not found"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, "405 Method Not Allowed", {"error": "use POST"},
                            headers=(("Allow", "POST"),))
        try:
            return _report_state(environ, start_response, account_id)
        except Exception:
            logger.exception("account state report for %r failed", account_id)
            return _respond(start_response, "500 Internal Server Error", {"error": "internal error, nothing changed"})

    def _report_state(environ, start_response, account_id: str):
        key = bearer_key(environ.get("HTTP_AUTHORIZATION"))
        with session_scope(engine) as session:
            caller = authenticate(session=session, key=key) if key is not None else None
        if caller is None:
            return _respond(start_response, "401 Unauthorized", {"error": "missing or invalid API key"},
                            headers=(("WWW-Authenticate", 'Bearer realm="renewbot"'),))
        if STATE_SCOPE not in caller.scopes:
            return _respond(start_response, "403 Forbidden", {"error": f"this key lacks the {STATE_SCOPE!r} scope"})
        length = _content_length(environ)
        if length is None:
            return _respond(start_response, "411 Length Required", {"error": "Content-Length is required"})
        if length > body_limit:
            return _respond(start_response, "413 Content Too Large",
                            {"error": f"request body too large (at most {body_limit} bytes)"})
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            report = parse_report(body)
        except ReportRejected as exc:
            return _respond(start_response, "400 Bad Request", {"error": str(exc)})
        now = clock()
        with session_scope(engine) as session:
            applied = apply_report(session=session, account_id=account_id, report=report, now=now)
        if applied is None:
            return _respond(start_response, "404 Not Found", {"error": "no such account"})
        if not applied.changed:
            return _respond(start_response, "200 OK", applied.account.to_json())
        a = applied.account
        logger.info("account %r reported by key %r: enabled=%s fetch_orders=%s reason=%r (%d token(s) use it)",
                    a.id, caller.name, a.enabled, a.fetch_orders, a.reason, len(applied.token_ids))
        return _respond(start_response, "200 OK", a.to_json(),
                        after=lambda: edit_open_notices(engine, client, applied.token_ids, clock()))

    return api
