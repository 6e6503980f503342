"""The HTTP side of `serve`: POST /slack/events (bolt) and GET /healthz, as one WSGI app (and, with PUBLIC_URL,
the private entry page under /renew/ and Amazon's authorization callback)."""

from __future__ import annotations

import io
import logging
import re

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine

from handlers.access import Access
from handlers.lookups import FormLookups
from handlers.replay import ReplayGuard
from jobs.pacing import ChannelPacer
from renewbot.runtime.api import API_PREFIX, content_length, make_api_app, respond
from renewbot.runtime.config import DEFAULT_MAX_BODY_BYTES
from renewbot.runtime.deps import Deps, utc_now
from renewbot.runtime.feeds import CALENDAR_PATH, METRICS_PATH, make_feeds
from renewbot.runtime.log_context import log_ids, request_id
from renewbot.runtime.oauth_callback import OAUTH_CALLBACK_PATH, make_oauth_callback
from renewbot.runtime.secret_page import PAGE_PREFIX, make_secret_page, may_act_for
from storage.db import ping

logger = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
# Slack sends Unix seconds and "v0=" + 64 hex digits. Anything else is refused before any arithmetic on it:
# str.isdigit() accepts "²" and a 5,000-digit number trips Python's int limit, both once a 500.
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
SIGNATURE_RE = re.compile(r"v0=[0-9a-f]{64}")


def _readable(body: bytes, content_type: str) -> bool:
    """Whether bolt can parse this body; a signed body it cannot read gets 400, not bolt's 500."""
    try:
        text = body.decode("utf-8")
        # bolt's own parser, as bolt will call it (it reads a body starting with "{" as JSON too)
        return all(isinstance(parse_body(text, ct), dict) for ct in {content_type, content_type.split(";")[0].strip()})
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return False


def _ack_only(start_response) -> list[bytes]:
    """What Slack gets for a request that is dropped: an acknowledgement, and nothing done."""
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


def make_wsgi_app(app: App, engine: Engine, signing_secret: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                  slack_health=None, guard: ReplayGuard | None = None, slack_events: bool = True,
                  pacer: ChannelPacer | None = None, metrics=None, clock=utc_now, deps: Deps | None = None):
    """`slack_health` (jobs.deliver.SlackHealth): when Slack refuses the bot token, /healthz says 503 and why,
    and the API edits no notices. `pacer`: the process's one, so the API's notice edits keep delivery's pace.
    `guard` drops replays of a signed request (valid for 5 minutes) and floods by one person, shared by replicas
    through the database; by default a ReplayGuard on `engine`. `slack_events=False` (Socket Mode: Slack comes
    over the socket) serves every route but POST /slack/events, which then answers 404 like any unknown path.
    `deps` whose `entry.public_url` is set: the pages people reach from Slack's links, the private entry page
    (PAGE_PREFIX) and Amazon's callback (OAUTH_CALLBACK_PATH); both answer in Slack with the app's client."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    # Socket Mode needs no signing secret (Slack does not call us): no verifier then, and no events route.
    verifier = SignatureVerifier(signing_secret) if slack_events else None
    guard = guard or ReplayGuard(engine)
    api = make_api_app(engine, app.client, max_body_bytes=max_body_bytes, pacer=pacer, health=slack_health)
    # GET /calendar.ics (calendar-scoped keys) and GET /metrics (metrics-scoped keys; 404 without `metrics`).
    feeds = make_feeds(engine, metrics, clock=clock)
    entry_page = oauth = None
    if deps is not None and deps.entry.public_url:
        # The person is the one the pending renewal names: their ownership is checked again as the secret arrives.
        may_act = may_act_for(Access(app.client), FormLookups(engine))
        entry_page = make_secret_page(deps=deps, client=app.client, may_act=may_act, max_body_bytes=max_body_bytes)
        oauth = make_oauth_callback(deps=deps, client=app.client, may_act=may_act)

    def events(environ, start_response):
        length = content_length(environ, missing=0)
        # Bounded before anything is read (waitress also refuses larger bodies before buffering them).
        if length is None or length > max_body_bytes:
            return respond(start_response, "413 Content Too Large", {"error": "request body too large"})
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        # Verified before bolt parses anything, so an unsigned body can only ever get a 401.
        if not (TIMESTAMP_RE.fullmatch(timestamp) and SIGNATURE_RE.fullmatch(signature)
                and verifier.is_valid(body=body, timestamp=timestamp, signature=signature)):
            return respond(start_response, "401 Unauthorized", {"error": "invalid request signature"})
        if not _readable(body, environ.get("CONTENT_TYPE", "")):
            return respond(start_response, "400 Bad Request", {"error": "unreadable request body"})
        if not guard.admit(body, signature):
            return _ack_only(start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        return slack(environ, start_response)

    def wsgi(environ, start_response):
        # Every line logged while handling it carries the request's id (LOG_FORMAT=json).
        with log_ids(request=request_id(environ.get("HTTP_X_REQUEST_ID"))):
            return route(environ, start_response)

    def route(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            try:
                ping(engine)
                status, body = "200 OK", {"ok": True, "database": "ok"}
            except Exception as exc:
                logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
                status = "503 Service Unavailable"
                body = {"ok": False, "database": f"unreachable: {type(exc).__name__}"}
            refused = slack_health.refused if slack_health is not None else None
            if refused:  # a person must fix the token; an outage (5xx, timeouts) never sets this
                status, body = "503 Service Unavailable", {**body, "ok": False, "slack": refused}
            return respond(start_response, status, body)
        if path == EVENTS_PATH and method == "POST" and slack_events:
            return events(environ, start_response)
        if path in (CALENDAR_PATH, METRICS_PATH):
            return feeds(environ, start_response)
        if path.startswith(API_PREFIX):  # the platform's API (Bearer keys), never Slack's
            return api(environ, start_response)
        if entry_page is not None and path.startswith(PAGE_PREFIX):
            return entry_page(environ, start_response)
        if oauth is not None and path == OAUTH_CALLBACK_PATH:
            return oauth(environ, start_response)
        if not slack_events:
            return respond(start_response, "404 Not Found", {"error": "not found"})
        return slack(environ, start_response)

    return wsgi
