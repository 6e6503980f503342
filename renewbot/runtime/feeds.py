"""GET /calendar.ics and GET /metrics: read-only feeds behind keys from `renewbot api-key create`.

A calendar app stores the feed's URL and cannot send headers, so the calendar also takes `?key=`; such a key
is in URLs and logs of proxies, so a key in the query must hold the `calendar` scope and nothing else
(`--scope calendar`): a key that can also write is refused there (401), and works only in the header.
Prometheus sends `Authorization: Bearer` (its `authorization` setting): /metrics takes the header only, from a
key with the `metrics` scope. Answers follow RFC 6750: 401 for no key or a wrong, revoked or misplaced one
(`error="invalid_token"` when a key was offered), 403 for a good key without the scope. The key is never logged.

The calendar is streamed a page of tokens at a time (calendar.py), at most MAX_CALENDAR_FEEDS at once per
process: each holds a server thread while it runs, and waitress has few. One more gets 503 and Retry-After.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

from sqlalchemy.engine import Engine

from renewbot.runtime.api import respond
from renewbot.runtime.log_context import current_ids, log_ids
from renewbot.runtime.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from renewbot.runtime.metrics import Metrics
from renewbot.usecases.apikeys import authenticate, bearer_key
from renewbot.usecases.calendar import calendar_chunks, feed_events
from storage.db import session_scope

logger = logging.getLogger(__name__)

CALENDAR_PATH = "/calendar.ics"
METRICS_PATH = "/metrics"
CALENDAR_SCOPE, METRICS_SCOPE = "calendar", "metrics"
MAX_QUERY = 512  # characters of QUERY_STRING looked at; a key is 47
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
CALENDAR_TYPE = "text/calendar; charset=utf-8"
# A calendar app polls; five minutes of caching in the app (never a shared cache: the URL holds a key).
CALENDAR_CACHE = ("Cache-Control", "private, max-age=300")
# Calendars streamed at once per process; the rest of waitress's 8 threads stay for Slack and the API.
MAX_CALENDAR_FEEDS = 2
BUSY_RETRY_AFTER = "30"  # seconds; calendar apps poll every few minutes anyway
REALM = 'Bearer realm="renewbot"'
NO_STORE = ("Cache-Control", "no-store")


def _query_key(environ) -> tuple[str | None, bool]:
    """The well-formed key in `?key=`, and whether a key was offered there at all."""
    query = environ.get("QUERY_STRING") or ""
    offered = "key=" in query
    if not offered or len(query) > MAX_QUERY:
        return None, offered
    try:
        values = parse_qs(query, max_num_fields=10).get("key")
    except ValueError:  # more fields than max_num_fields
        return None, offered
    key = values[0] if values and len(values) == 1 else None
    return (key if key and len(key) <= 100 and set(key) <= KEY_CHARS else None), offered


def _unauthorized(start_response, *, offered: bool, why: str = "missing or invalid key", description: str = ""):
    challenge = REALM + (', error="invalid_token"' if offered else "")
    challenge += f', error_description="{description}"' if description else ""
    return respond(start_response, "401 Unauthorized", {"error": why},
                   headers=(("WWW-Authenticate", challenge), NO_STORE))


def _refusal(engine: Engine, start_response, key: str | None, *, offered: bool, scope: str, in_query: bool = False):
    """None when `key` may read `scope` (from the query: that scope alone), else the answer sent."""
    if key is None:
        return _unauthorized(start_response, offered=offered)
    with session_scope(engine) as session:
        caller = authenticate(session=session, key=key)
    if caller is None:
        return _unauthorized(start_response, offered=True)
    if scope not in caller.scopes:
        return respond(start_response, "403 Forbidden", {"error": f"this key lacks the {scope!r} scope"},
                       headers=(("WWW-Authenticate", f'{REALM}, error="insufficient_scope", scope="{scope}"'),
                                NO_STORE))
    if in_query and set(caller.scopes) != {scope}:
        # It works in the header; in a URL it would let whoever reads the URL write too.
        return _unauthorized(start_response, offered=True, description=f"a key in the URL must hold only {scope}",
                             why=f"a key in the URL must hold the {scope!r} scope alone; this one can do more, so "
                                 f"revoke it and make one with `renewbot api-key create NAME --scope {scope}`")
    return None


class _Stream:
    """The calendar's body as waitress reads it, after this request's handler has returned: it holds a feed
    slot until the server closes it, and a failure mid-stream is logged with the request's ids (gone from the
    context by then) and raised again, so waitress drops the connection without the last chunk: the calendar
    app sees a failed download and keeps its last good copy, never a well-formed short calendar."""

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None]) -> None:
        self._chunks, self._release, self._ids = chunks, release, current_ids()
        self._released = False

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise
        except Exception:
            with log_ids(**self._ids):
                logger.exception("%s failed while streaming: the response is cut short", CALENDAR_PATH)
            raise

    def close(self) -> None:
        if not self._released:
            self._released = True
            self._release()


def make_feeds(engine: Engine, metrics: Metrics | None, *, clock: Callable[[], datetime],
               max_calendar_feeds: int = MAX_CALENDAR_FEEDS):
    """The WSGI app for CALENDAR_PATH and METRICS_PATH (web.py routes only those here). Without `metrics`,
    /metrics is not served (404)."""
    slots = threading.BoundedSemaphore(max_calendar_feeds)

    def calendar(environ, start_response):
        header = environ.get("HTTP_AUTHORIZATION")
        key, in_query = bearer_key(header), False
        offered = header is not None
        if key is None:
            key, in_query = _query_key(environ)
            offered = offered or in_query
            in_query = key is not None
        refused = _refusal(engine, start_response, key, offered=offered, scope=CALENDAR_SCOPE, in_query=in_query)
        if refused is not None:
            return refused
        headers = [("Content-Type", CALENDAR_TYPE), CALENDAR_CACHE,
                   ("Content-Disposition", 'inline; filename="renewbot.ics"')]
        if environ.get("REQUEST_METHOD") == "HEAD":
            start_response("200 OK", headers)
            return [b""]
        if not slots.acquire(blocking=False):
            return respond(start_response, "503 Service Unavailable",
                           {"error": "too many calendar downloads at once; try again shortly"},
                           headers=(("Retry-After", BUSY_RETRY_AFTER), NO_STORE))
        try:
            now = clock().astimezone(UTC)
            # Reads the kinds and the first page now: a failure here is still a 500, before any byte is sent.
            events = feed_events(engine=engine, now=now)
            start_response("200 OK", headers)
        except BaseException:
            slots.release()
            raise
        # Streamed: the server sends each event's bytes as they are made (chunked), a page of tokens read at a time.
        return _Stream(calendar_chunks(events, stamp=now), slots.release)

    def metrics_page(environ, start_response):
        header = environ.get("HTTP_AUTHORIZATION")
        refused = _refusal(engine, start_response, bearer_key(header), offered=header is not None,
                           scope=METRICS_SCOPE)
        if refused is not None:
            return refused
        body = metrics.render()
        start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE), ("Content-Length", str(len(body))),
                                  NO_STORE])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def feeds(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == METRICS_PATH and metrics is None:
            return respond(start_response, "404 Not Found", {"error": "not found"})
        if method not in ("GET", "HEAD"):
            return respond(start_response, "405 Method Not Allowed", {"error": "use GET"},
                           headers=(("Allow", "GET, HEAD"),))
        try:
            return calendar(environ, start_response) if path == CALENDAR_PATH else metrics_page(environ, start_response)
        except Exception:
            logger.exception("%s failed", path)
            return respond(start_response, "500 Internal Server Error", {"error": "internal error"})

    return feeds
