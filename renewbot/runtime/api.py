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
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from jobs.deliver import SlackHealth
from jobs.pacing import ChannelPacer
from renewbot.blocks.notice import notice_blocks, notice_text
from renewbot.runtime.config import DEFAULT_MAX_BODY_BYTES
from renewbot.runtime.deps import utc_now
from renewbot.usecases.account_state import ReportRejected, apply_report, notice_edits, parse_report
from renewbot.usecases.apikeys import authenticate, bearer_key
from renewbot.usecases.attention import Attention
from storage.db import session_scope

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
# PATH_INFO arrives percent-decoded, as latin-1 text of the raw bytes; the id is decoded as UTF-8 below.
STATE_PATH_RE = re.compile(r"/api/v1/accounts/([^/]{1,800})/state")
MAX_ACCOUNT_ID = 200  # Account.id's column
# A state report is well under 1 KiB; MAX_BODY_BYTES (Slack's bound) is far more than it can need.
MAX_API_BODY_BYTES = 16 * 1024
STATE_SCOPE = "state"
NO_STORE = ("Cache-Control", "no-store")


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


def respond(start_response, status: str, body: dict, *, headers: tuple = (),
            after: Callable[[], None] | None = None):
    """A JSON answer, for every route `serve` has; `after` runs once it is sent (see _ThenRun)."""
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers])
    return [data] if after is None else _ThenRun(data, after)


def _respond(start_response, status: str, body: dict, *, headers: tuple = (),
             after: Callable[[], None] | None = None):
    # An API answer is about one caller's key and account: no cache along the way may keep it.
    return respond(start_response, status, body, headers=(NO_STORE, *headers), after=after)


def content_length(environ, *, missing: int | None = None) -> int | None:
    """The request's Content-Length: `missing` when it has none, None when it is not plain decimal digits of
    sane size (int() alone takes " 12" and "1_000", isdigit() alone "²"; 5,000 digits trip Python's int limit)."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if not raw:
        return missing
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _account_id(raw: str) -> str | None:
    try:
        account_id = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return account_id if len(account_id) <= MAX_ACCOUNT_ID else None


def edit_open_notices(engine: Engine, client: WebClient, token_ids: tuple[str, ...], now: datetime, *,
                      pacer: ChannelPacer | None = None, health: SlackHealth | None = None) -> int:
    """Re-renders the posted open notices of these tokens with their accounts as stored now; returns how many
    Slack took. Read afresh (not from the report's transaction), so the last edit shows the latest state even
    when two reports race. A message Slack will not edit is logged and left: the next notice shows it right.
    `pacer` spaces the edits as it spaces delivery's posts to the same channels; while `health` says Slack
    refuses the bot token, nothing is sent (delivery is paused then too, and every call would only fail)."""
    with session_scope(engine) as session:
        edits = notice_edits(session=session, token_ids=token_ids)
    done = 0
    for i, e in enumerate(edits):
        refused = health.refused if health is not None else None
        if refused:
            logger.warning("Slack refuses the bot token (%s): %d notice(s) not edited to show an account's new "
                           "state", refused, len(edits) - i)
            break
        if pacer is not None:
            pacer.wait(e.channel)
        try:
            client.chat_update(channel=e.channel, ts=e.ts, text=notice_text(e.token, e.stage, now),
                               blocks=notice_blocks(e.token, e.accounts, e.stage, now, e.kind,
                                                    attention=Attention.of(e.notice, e.token, now)))
            done += 1
        except Exception:
            logger.exception("could not edit notice %s in %s to show an account's new state", e.ts, e.channel)
    return done


class _NoticeEditor:
    """Edits notices on one thread of its own, so a report's server thread (shared with Slack's events, which
    must be acknowledged within 3 seconds) is free as soon as the answer is sent, however slow Slack is.

    Token ids reported while an edit is queued join it rather than queue another: one pass reads the state
    as stored then, which covers every report before it, so a burst of reports costs one round of edits."""

    def __init__(self, edit: Callable[[tuple[str, ...]], object]) -> None:
        self._edit = edit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renewbot-notice-edits")
        self._lock = threading.Lock()
        self._pending: set[str] = set()

    def submit(self, token_ids: Iterable[str]) -> None:
        with self._lock:
            queued = bool(self._pending)
            self._pending.update(token_ids)
            if not queued and self._pending:
                self._pool.submit(self._run)

    def _run(self) -> None:
        with self._lock:
            token_ids, self._pending = tuple(sorted(self._pending)), set()
        try:
            self._edit(token_ids)
        except Exception:
            logger.exception("after an account state report: editing the open notices failed")


def make_api_app(engine: Engine, client: WebClient, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 clock: Callable[[], datetime] = utc_now, pacer: ChannelPacer | None = None,
                 health: SlackHealth | None = None):
    """The WSGI app for everything under API_PREFIX; `client` edits notices after a report changed an account,
    paced by `pacer` and not while `health` says Slack refuses the token (the process's shared ones)."""
    body_limit = min(max_body_bytes, MAX_API_BODY_BYTES)
    editor = _NoticeEditor(lambda token_ids: edit_open_notices(engine, client, token_ids, clock(), pacer=pacer,
                                                               health=health))

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
        length = content_length(environ)
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
                        after=lambda: editor.submit(applied.token_ids))

    return api
