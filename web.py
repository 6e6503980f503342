"""The HTTP side of `serve`: POST /slack/events (bolt) and GET /healthz, as one WSGI app."""

from __future__ import annotations

import json
import logging

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.engine import Engine

from storage.db import ping

logger = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


def make_wsgi_app(app: App, engine: Engine):
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            try:
                ping(engine)
                status, body = "200 OK", {"ok": True, "database": "ok"}
            except Exception as exc:
                logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
                status, body = "503 Service Unavailable", {"ok": False, "database": f"unreachable: {type(exc).__name__}"}
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        return slack(environ, start_response)

    return wsgi
