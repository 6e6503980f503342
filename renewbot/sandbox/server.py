"""The sandbox's HTTP routes: the page (/, /static/…, /sandbox/…) next to the bot's own (/slack/events, …).

The page's script posts JSON here; each POST does what Slack would (through the bridge: a signed request at
the bot's real /slack/events), waits for the bot to finish with Slack, and answers with the page's new state.
Only JSON from this origin is accepted, so another site open in the browser cannot drive the sandbox.
"""

from __future__ import annotations

import json
import logging
import re
from importlib import resources
from urllib.parse import parse_qs

from renewbot.sandbox import demo, page
from renewbot.sandbox.bridge import Bridge, Refused

logger = logging.getLogger(__name__)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
                    ("X-Frame-Options", "DENY")]
STATIC = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}
MAX_BODY = 256 * 1024
ID_RE = re.compile(r"[A-Z0-9]{1,24}")
TS_RE = re.compile(r"[0-9]{1,12}\.[0-9]{1,6}")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
DEFAULT_CHANNEL = next(iter(demo.CHANNEL_NAMES))


def _send(start_response, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS])
    return [body]


def _json(start_response, status: str, payload: dict) -> list[bytes]:
    return _send(start_response, status, json.dumps(payload).encode(), "application/json; charset=utf-8")


def where_from(values: dict) -> page.Where:
    """Who and what the page shows, checked: a person of the demo, a channel id, a thread ts."""
    user = str(values.get("user") or demo.OWNER)
    if user not in demo.people_by_id():
        raise Refused("unknown person: pick one of the demo's people")
    channel = str(values.get("channel") or DEFAULT_CHANNEL)
    thread = str(values.get("thread") or "")
    if not ID_RE.fullmatch(channel) or (thread and not TS_RE.fullmatch(thread)):
        raise Refused("not a channel id or message ts")
    tab = page.HOME if values.get("tab") == page.HOME else "channel"
    return page.Where(user=user, channel=channel, tab=tab, thread=thread)


def _query(environ) -> dict:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _read_json(environ) -> dict:
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        raise Refused("send JSON")  # a form post from another site cannot set this without the browser asking
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("bad Content-Length") from None
    if not 0 < length <= MAX_BODY:
        raise Refused("body missing or too large")
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        raise Refused("not JSON") from None
    if not isinstance(body, dict):
        raise Refused("send a JSON object")
    return body


def _do(bridge: Bridge, sandbox, route: str, body: dict, where: page.Where) -> dict | None:
    """Runs one POST; None answers with the page's state, a dict answers as it is."""
    view_id = str(body.get("view_id") or "")
    if route == "action":
        action = body.get("action")
        if not isinstance(action, dict):
            raise Refused("no action")
        bridge.click(where.user, action, channel=str(body.get("channel") or where.channel),
                     ts=str(body.get("ts") or ""), view_id=view_id, values=body.get("values"))
    elif route == "submit":
        bridge.submit(where.user, view_id, body.get("values") or [])
    elif route == "close":
        bridge.close(where.user, view_id)
    elif route == "suggest":
        return {"options": bridge.suggest(where.user, view_id, str(body.get("action_id") or ""),
                                          str(body.get("block_id") or ""), str(body.get("value") or "")[:200])}
    elif route == "command":
        text = str(body.get("text") or "").strip()
        if not text.startswith("/renew-token"):
            raise Refused("the sandbox's message box takes /renew-token commands, e.g. /renew-token list")
        bridge.command(where.user, where.channel, text[len("/renew-token"):].strip())
    elif route == "home":
        bridge.open_home(where.user)
    elif route == "clock":
        sandbox.advance(1)
        bridge.settle()
    else:
        raise LookupError(route)
    return None


def make_page_app(sandbox, bot):
    """The page's routes in front of `bot` (the bot's own WSGI app), which gets every other path."""
    bridge = sandbox.bridge = Bridge(sandbox)
    static = resources.files("renewbot.sandbox") / "static"

    def app(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path != "/" and not path.startswith(("/static/", "/sandbox/")):
            return bot(environ, start_response)
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0]
        if host not in LOCAL_HOSTS:  # a name that resolves here (DNS rebinding) is not this page's origin
            return _json(start_response, "421 Misdirected Request", {"error": "open the sandbox at 127.0.0.1"})
        try:
            return route(environ, start_response, path, method)
        except Refused as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        except Exception:
            logger.exception("sandbox page: %s %s failed", method, path)
            return _json(start_response, "500 Internal Server Error",
                         {"error": "the sandbox failed at this; its terminal says why"})

    def route(environ, start_response, path: str, method: str):
        if path == "/" and method in ("GET", "HEAD"):
            html = page.shell(sandbox, where_from(_query(environ)))
            return _send(start_response, "200 OK", html.encode(), "text/html; charset=utf-8")
        if path.startswith("/static/") and method in ("GET", "HEAD") and path[8:] in STATIC:
            return _send(start_response, "200 OK", (static / path[8:]).read_bytes(), STATIC[path[8:]])
        if path == "/sandbox/state" and method == "GET":
            query = _query(environ)
            where = where_from(query)
            if query.get("since") and query["since"] == bridge.version():
                return _json(start_response, "200 OK", {"unchanged": True, "version": query["since"]})
            return _json(start_response, "200 OK", page.state(sandbox, where))
        name = path[len("/sandbox/"):]
        if path.startswith("/sandbox/") and method == "POST" and name in (
                "action", "submit", "close", "suggest", "command", "home", "clock"):
            body = _read_json(environ)
            where = where_from(body.get("where") or {})
            answer = _do(bridge, sandbox, name, body, where)
            return _json(start_response, "200 OK", answer if answer is not None else page.state(sandbox, where))
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return app
