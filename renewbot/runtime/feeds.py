"""GET /calendar.ics and GET /metrics: read-only feeds behind keys from `renewbot api-key create`.

A calendar app stores the feed's URL and cannot send headers, so the calendar also takes `?key=`; such a key
is in URLs and logs of proxies, which is why it holds the `calendar` scope only (`--scope calendar`) and can
write nothing. Prometheus sends `Authorization: Bearer` (its `authorization` setting): /metrics takes the
header only, from a key with the `metrics` scope. The key is never logged; every refusal is the same 401.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

from sqlalchemy.engine import Engine

from renewbot.runtime.api import respond
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
UNAUTHORIZED = {"error": "missing or invalid key"}


def _query_key(environ) -> str | None:
    query = environ.get("QUERY_STRING") or ""
    if len(query) > MAX_QUERY:
        return None
    values = parse_qs(query, max_num_fields=10).get("key") if query else None
    key = values[0] if values and len(values) == 1 else None
    return key if key and len(key) <= 100 and set(key) <= KEY_CHARS else None


def _allowed(engine: Engine, key: str | None, scope: str) -> bool:
    if key is None:
        return False
    with session_scope(engine) as session:
        caller = authenticate(session=session, key=key)
    return caller is not None and scope in caller.scopes


def _refuse(start_response):
    return respond(start_response, "401 Unauthorized", UNAUTHORIZED,
                   headers=(("WWW-Authenticate", 'Bearer realm="renewbot"'), ("Cache-Control", "no-store")))


def make_feeds(engine: Engine, metrics: Metrics | None, *, clock: Callable[[], datetime]):
    """The WSGI app for CALENDAR_PATH and METRICS_PATH (web.py routes only those here). Without `metrics`,
    /metrics is not served (404)."""

    def calendar(environ, start_response):
        try:
            key = bearer_key(environ.get("HTTP_AUTHORIZATION")) or _query_key(environ)
        except ValueError:  # parse_qs: more fields than max_num_fields
            key = None
        if not _allowed(engine, key, CALENDAR_SCOPE):
            return _refuse(start_response)
        start_response("200 OK", [("Content-Type", CALENDAR_TYPE), CALENDAR_CACHE,
                                  ("Content-Disposition", 'inline; filename="renewbot.ics"')])
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        # Streamed: the server sends each event's bytes as they are made (chunked), a page of tokens read at a time.
        return calendar_chunks(feed_events(engine=engine), stamp=clock().astimezone(UTC))

    def metrics_page(environ, start_response):
        if not _allowed(engine, bearer_key(environ.get("HTTP_AUTHORIZATION")), METRICS_SCOPE):
            return _refuse(start_response)
        body = metrics.render()
        start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
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
