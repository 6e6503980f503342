"""A real HTTP server that answers like the Slack Web API: the tests' Slack, and `renewbot sandbox`'s.

The bot talks to it over the same code path it uses in production
(slack_sdk's urllib client), so request encoding, headers, retries and
error handling are exercised for real instead of being mocked away.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import math
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

# Slack accepts these as JSON text inside form or query encodings.
_JSON_KEYS = ("blocks", "attachments", "view", "metadata")
_AUTH_TEST = {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "renewbot",
              "team_id": "T0TEST", "user_id": "UBOT", "bot_id": "BBOT"}


@dataclass
class Call:
    method: str
    params: dict
    headers: dict
    at: float
    failed: bool = False
    error: str | None = None  # Slack error code, "http_<status>" or "dropped"
    reply: dict | None = None  # what the stand-in answered (the sandbox reads the ids of the views it opened)


def _err(code: str) -> dict:
    return {"ok": False, "error": code}


def _shown(msg: dict) -> dict:
    return copy.deepcopy({k: v for k, v in msg.items() if v is not None})


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1")  # JSON true/1, or the "1" slack_sdk puts in query strings


def _parse_params(query: str, content_type: str, raw: bytes) -> dict:
    params = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";")[0].strip().lower()
    if raw and ctype == "application/json":
        body = json.loads(raw.decode("utf-8"))
        params.update(body if isinstance(body, dict) else {"_json": body})
    elif raw and ctype == "application/x-www-form-urlencoded":
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_KEYS:
        if isinstance(params.get(key), str) and params[key]:
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass  # Slack would reject it; keep the text so the test can see what was sent.
    return params


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass  # keep pytest output clean

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        # Read the whole body even when dropping, so the close is a clean EOF, not a reset.
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.standin._dispatch(split.path, split.query, headers, raw)
        if reply is None:
            self.close_connection = True
            return
        status, payload, extra = reply
        if isinstance(payload, str):
            body, ctype = payload.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            body, ctype = json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8"
        self.send_response(status)
        for name, value in {"Content-Type": ctype, "Content-Length": str(len(body)), **extra}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _handle


class SlackStandin:
    def __init__(self, *, clock=None) -> None:
        """`clock` (unix seconds): message ts follow it, as Slack's follow real time; by default they are fixed,
        1700000000.000100 and up, so tests can name them."""
        self._clock = clock
        self._last_micros = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ts = itertools.count(1)
        self._view_serial = itertools.count(1)  # view ids and hashes
        self.usergroups: dict[str, list[str]] = {}
        # usergroups.list: group id -> its handle ("ops-team"); a group in `usergroups` without one is "g-<id>".
        self.usergroup_handles: dict[str, str] = {}
        # users.info: fields over a default active full member of T0TEST; None answers user_not_found.
        self.users: dict[str, dict | None] = {}
        # conversations.members and users.conversations; a channel not listed answers channel_not_found.
        self.channel_members: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.reset()

    def start(self) -> SlackStandin:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            self._server.standin = self
            # Recorded, not printed, so a test can assert the stand-in itself never broke.
            self._server.handle_error = lambda request, address: self.errors.append(repr(sys.exc_info()[1]))
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _base(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandin is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self._base()}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self._base()}/response/{name}"

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method} within {timeout}s, "
                                     f"got {len(found)}; calls seen: {seen}")
            time.sleep(0.01)

    def fail_next(self, method: str, *, status: int = 500, retry_after: int | None = None,
                  times: int = 1, error: str | None = None) -> None:
        if error:
            reply = (200, _err(error), {})
        elif status == 429:
            reply = (429, _err("ratelimited"), {"Retry-After": str(retry_after or 1)})
        else:
            reply = (status, "upstream error", {})
        self._queue_failures(method, [reply] * times)

    def hold_reply_next(self, method: str, seconds: float) -> None:
        """Apply the next call to `method` at once but answer it only after `seconds`."""
        with self._lock:
            self._holds[method] = seconds

    def drop_connection_next(self, method: str, times: int = 1) -> None:
        self._queue_failures(method, [None] * times)  # None: answer nothing, just close

    def _queue_failures(self, method: str, replies: list) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend(replies)

    def set_channel_rate_limit(self, per_second: float, burst: int = 1) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be > 0 and burst >= 1")
        with self._lock:
            self._rate = (float(per_second), int(burst))
            self._buckets = {}

    def guest(self, user_id: str, *, ultra: bool = False) -> None:
        self.users[user_id] = {"is_restricted": not ultra, "is_ultra_restricted": ultra}

    def external(self, user_id: str, team_id: str = "T0OTHER") -> None:
        """A Slack Connect user: a member of another organisation's team."""
        self.users[user_id] = {"team_id": team_id}

    def reset(self) -> None:
        with self._lock:
            self._calls: list[Call] = []
            self._failures: dict[str, list] = {}
            self._rate: tuple[float, int] | None = None
            self._buckets: dict[str, tuple[float, float]] = {}
            self.rate_limited = 0
            self.missing_channels: set[str] = set()  # posting there answers channel_not_found
            # Public channels the bot is not in: posting answers not_in_channel until conversations.join.
            self.outside_channels: set[str] = set()
            self.archived_channels: set[str] = set()  # posting or joining there answers is_archived
            self.ims: dict[str, str] = {}  # conversations.open: user id -> its direct message channel id
            self.throttled_channels: dict[str, int] = {}  # posting there answers 429 with this Retry-After
            self.messages: dict[str, list[dict]] = {}
            self.views: dict[str, dict] = {}
            self.home_views: dict[str, dict] = {}  # views.publish: user id -> the Home view published for them
            self._holds: dict[str, float] = {}

    # Everything below runs on server threads; _answer and the _api_* methods hold self._lock.
    def _dispatch(self, path: str, query: str, headers: dict, raw: bytes):
        if path.startswith("/api/"):
            method = path[len("/api/"):]
        elif path.startswith("/response/"):
            method = "response_url:" + path[len("/response/"):]
        else:
            return 404, _err("not_found"), {}
        try:
            params, bad_body = _parse_params(query, headers.get("content-type", ""), raw), False
        except ValueError:
            params, bad_body = {"_raw": raw.decode("utf-8", "replace")}, True
        call = Call(method, params, headers, time.monotonic())
        with self._lock:
            try:
                reply = (200, _err("invalid_json"), {}) if bad_body else self._answer(method, params, headers)
            except Exception as exc:  # surface stand-in bugs to the test instead of hanging the client
                self.errors.append(f"{method}: {exc!r}")
                reply = (500, _err(f"standin_bug: {exc!r}"), {})
            body = reply[1] if reply else None
            call.error = body.get("error") if isinstance(body, dict) else f"http_{reply[0]}" if reply else "dropped"
            call.failed = call.error is not None
            call.reply = copy.deepcopy(body) if isinstance(body, dict) else None
            self._calls.append(call)
            hold = self._holds.pop(method, 0.0)
        if hold:
            # The call took effect; its reply is late. A client killed meanwhile never learns the ts.
            time.sleep(hold)
        return reply

    def _answer(self, method: str, params: dict, headers: dict):
        if self._failures.get(method):
            return self._failures[method].pop(0)
        if method.startswith("response_url:"):
            return 200, {"ok": True}, {}
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
            return 200, _err("not_authed"), {}
        if method == "chat.postMessage" and params.get("channel") in self.throttled_channels:
            return 429, _err("ratelimited"), {"Retry-After": str(self.throttled_channels[params["channel"]])}
        if method == "chat.postMessage" and params.get("channel"):
            wait = self._throttle(str(params["channel"]))
            if wait:
                self.rate_limited += 1
                return 429, _err("ratelimited"), {"Retry-After": str(wait)}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, _err("unknown_method"), {}
        return 200, handler(params), {}

    def _throttle(self, channel: str) -> int:
        """Token bucket per channel; returns seconds to wait, 0 when the post may go through."""
        if self._rate is None:
            return 0
        per_second, burst = self._rate
        now = time.monotonic()
        tokens, last = self._buckets.get(channel, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * per_second)
        if tokens >= 1:
            self._buckets[channel] = (tokens - 1, now)
            return 0
        self._buckets[channel] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / per_second))

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._ts) * 100
        if self._clock is not None:  # still unique and rising when the clock stands still or is moved back
            micros = self._last_micros = max(int(self._clock() * 1_000_000), self._last_micros + 1)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _find(self, channel, ts) -> dict | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def _listed(self, msg: dict, channel: str, with_metadata: bool) -> dict:
        out = {k: msg[k] for k in ("type", "ts", "text", "user", "bot_id", "blocks", "attachments", "thread_ts")
               if msg.get(k) is not None}
        replies = [m for m in self.messages.get(channel, []) if m.get("thread_ts") == msg["ts"] != m["ts"]]
        if replies:
            out.update(thread_ts=msg["ts"], reply_count=len(replies), latest_reply=replies[-1]["ts"])
        if with_metadata and msg.get("metadata") is not None:
            out["metadata"] = msg["metadata"]
        return out

    def _api_auth_test(self, p: dict) -> dict:
        return dict(_AUTH_TEST)

    def _api_chat_postMessage(self, p: dict) -> dict:
        channel = p.get("channel")
        if not channel or channel in self.missing_channels:
            return _err("channel_not_found")
        if channel.startswith("D") and channel not in self.ims.values():
            return _err("channel_not_found")  # a direct message channel is opened first (conversations.open)
        if channel in self.archived_channels:
            return _err("is_archived")
        if channel in self.outside_channels:
            return _err("not_in_channel")
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            return _err("no_text")
        msg = {"type": "message", "ts": self._next_ts(), "text": p.get("text", ""), "blocks": p.get("blocks"),
               "attachments": p.get("attachments"), "thread_ts": p.get("thread_ts"),
               "metadata": p.get("metadata"), "user": "UBOT", "bot_id": "BBOT",
               "reply_broadcast": _truthy(p.get("reply_broadcast"))}
        self.messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": _shown(msg)}

    def _api_chat_update(self, p: dict) -> dict:
        msg = self._find(p.get("channel"), p.get("ts"))
        if msg is None:
            return _err("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in p:
                msg[key] = p[key]
        return {"ok": True, "channel": p["channel"], "ts": msg["ts"], "text": msg["text"], "message": _shown(msg)}

    def _api_chat_postEphemeral(self, p: dict) -> dict:
        if not p.get("channel"):
            return _err("channel_not_found")
        return {"ok": True, "message_ts": self._next_ts()}

    def _store_view(self, view: dict, view_id: str | None = None) -> dict:
        serial = next(self._view_serial)
        view_id = view_id or f"V{serial}"
        stored = {"type": "modal", "callback_id": "", "private_metadata": "", "external_id": "",
                  "state": {"values": {}}, **copy.deepcopy(view), "id": view_id,
                  "hash": f"1700000000.{serial:08d}", "team_id": "T0TEST",
                  "app_id": "A0TEST", "bot_id": "BBOT"}
        self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def snapshot(self) -> SimpleNamespace:
        """A consistent copy of what the stand-in holds, for a reader on another thread (the sandbox's page)."""
        with self._lock:
            return SimpleNamespace(messages=copy.deepcopy(self.messages), views=copy.deepcopy(self.views),
                                   home_views=copy.deepcopy(self.home_views), ims=dict(self.ims))

    def put_view(self, view_id: str | None, view: dict) -> dict:
        """Replaces a stored view as Slack does for `response_action: update` (a new hash, the same id), or
        stores a new one (`view_id` None) as for `push`."""
        with self._lock:
            return self._store_view(view, view_id)["view"]

    def _api_views_open(self, p: dict) -> dict:
        if not p.get("trigger_id") or not isinstance(p.get("view"), dict):
            return _err("invalid_arguments")
        return self._store_view(p["view"])

    _api_views_push = _api_views_open

    def _api_views_update(self, p: dict) -> dict:
        key = "id" if p.get("view_id") else "external_id"
        wanted = p.get("view_id") or p.get("external_id")
        current = next((v for v in self.views.values() if wanted and v.get(key) == wanted), None)
        if current is None:
            return _err("not_found")
        if p.get("hash") and p["hash"] != current["hash"]:
            return _err("hash_conflict")
        if not isinstance(p.get("view"), dict):
            return _err("invalid_arguments")
        return self._store_view(p["view"], current["id"])

    def _api_views_publish(self, p: dict) -> dict:
        view, user = p.get("view"), p.get("user_id")
        if not user or self._user(str(user)) is None:
            return _err("user_not_found")
        if not isinstance(view, dict) or view.get("type") != "home":
            return _err("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            return _err("invalid_blocks")  # Slack's limit for a view
        current = self.home_views.get(user)
        if p.get("hash") and current is not None and p["hash"] != current["hash"]:
            return _err("hash_conflict")
        serial = next(self._view_serial)
        stored = {**copy.deepcopy(view), "id": (current or {}).get("id") or f"VH{serial}",
                  "hash": f"1700000000.{serial:08d}", "team_id": "T0TEST", "app_id": "A0TEST", "bot_id": "BBOT"}
        self.home_views[user] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _api_chat_getPermalink(self, p: dict) -> dict:
        channel, ts = p.get("channel"), p.get("message_ts")
        if self._find(channel, ts) is None:
            return _err("message_not_found")
        return {"ok": True, "channel": channel,
                "permalink": f"https://standin.slack.com/archives/{channel}/p{str(ts).replace('.', '')}"}

    def _api_usergroups_list(self, p: dict) -> dict:
        groups = [{"id": gid, "team_id": "T0TEST", "handle": self.usergroup_handles.get(gid, f"g-{gid.lower()}"),
                   "name": self.usergroup_handles.get(gid, gid), "is_usergroup": True, "date_delete": 0}
                  for gid in sorted(self.usergroups)]
        if _truthy(p.get("include_users")):
            for group in groups:
                group["users"] = list(self.usergroups[group["id"]])
        return {"ok": True, "usergroups": groups}

    def _api_conversations_info(self, p: dict) -> dict:
        channel = p.get("channel")
        if not channel or channel in self.missing_channels or (
                channel.startswith("G") and channel in self.outside_channels):
            return _err("channel_not_found")  # a private channel the bot is not in is invisible to it
        return {"ok": True, "channel": {"id": channel, "is_channel": channel.startswith("C"),
                                        "is_private": channel.startswith("G"),
                                        "is_archived": channel in self.archived_channels,
                                        "is_member": channel not in self.outside_channels}}

    def _user(self, user_id: str) -> dict | None:
        if user_id in self.users and self.users[user_id] is None:
            return None
        return {"id": user_id, "team_id": _AUTH_TEST["team_id"], "name": user_id.lower(), "deleted": False,
                "is_bot": False, "is_app_user": False, "is_admin": False, "is_restricted": False,
                "is_ultra_restricted": False, **(self.users.get(user_id) or {})}

    @staticmethod
    def _page(items: list, p: dict, key: str) -> dict:
        """Cursor paging as Slack does it: `limit` per page, an opaque next_cursor, "" on the last page."""
        limit = max(1, min(int(p.get("limit") or 100), 1000))
        try:
            start = int(base64.b64decode(str(p.get("cursor") or "")).decode().removeprefix("next:") or 0)
        except ValueError:
            return _err("invalid_cursor")
        page = items[start:start + limit]
        more = start + limit < len(items)
        cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {"ok": True, key: page, "response_metadata": {"next_cursor": cursor}}

    def _api_users_info(self, p: dict) -> dict:
        user = self._user(str(p.get("user") or ""))
        return _err("user_not_found") if not p.get("user") or user is None else {"ok": True, "user": user}

    def _api_conversations_members(self, p: dict) -> dict:
        members = self.channel_members.get(p.get("channel"))
        return _err("channel_not_found") if members is None else self._page(list(members), p, "members")

    def _api_users_conversations(self, p: dict) -> dict:
        user = p.get("user")
        if not user or self._user(user) is None:
            return _err("user_not_found")
        types = set(str(p.get("types") or "public_channel").split(","))  # Slack's default: public only
        prefixes = ("C" if "public_channel" in types else "") + ("G" if "private_channel" in types else "")
        channels = [{"id": ch, "is_channel": ch.startswith("C"), "is_private": ch.startswith("G")}
                    for ch, members in sorted(self.channel_members.items())
                    if user in members and ch[:1] in tuple(prefixes)]
        return self._page(channels, p, "channels")

    def _api_usergroups_users_list(self, p: dict) -> dict:
        users = self.usergroups.get(p.get("usergroup"))
        return _err("no_such_subteam") if users is None else {"ok": True, "users": list(users)}

    def _api_conversations_join(self, p: dict) -> dict:
        channel = p.get("channel")
        if not channel or channel in self.missing_channels:
            return _err("channel_not_found")
        if channel in self.archived_channels:
            return _err("is_archived")
        if not channel.startswith("C"):
            return _err("method_not_supported_for_channel_type")  # only public channels can be joined
        self.outside_channels.discard(channel)
        return {"ok": True, "channel": {"id": channel, "is_channel": True, "is_member": True}}

    def _api_conversations_open(self, p: dict) -> dict:
        users = str(p.get("users") or "").split(",")
        if len(users) != 1 or self._user(users[0]) is None:
            return _err("user_not_found")
        im = self.ims.setdefault(users[0], f"D{users[0][1:]}")
        return {"ok": True, "channel": {"id": im}}

    def dms_to(self, user_id: str) -> list[dict]:
        """The direct messages the bot sent to this user (after conversations.open)."""
        im = self.ims.get(user_id)
        return [] if im is None else list(self.messages.get(im, []))

    def _api_conversations_history(self, p: dict) -> dict:
        channel = p.get("channel")
        if not channel or channel in self.missing_channels:
            return _err("channel_not_found")
        limit = int(p.get("limit") or 100)
        oldest, latest = Decimal(str(p.get("oldest") or 0)), Decimal(str(p.get("latest") or "9" * 12))
        top = [m for m in self.messages.get(channel, [])  # oldest/latest are exclusive, as in Slack
               if m.get("thread_ts") in (None, m["ts"]) and oldest < Decimal(m["ts"]) < latest]
        top.sort(key=lambda m: Decimal(m["ts"]), reverse=True)
        with_metadata = _truthy(p.get("include_all_metadata"))
        return {"ok": True, "messages": [self._listed(m, channel, with_metadata) for m in top[:limit]],
                "has_more": len(top) > limit}

    def _api_conversations_replies(self, p: dict) -> dict:
        channel, ts = p.get("channel"), p.get("ts")
        if self._find(channel, ts) is None:
            return _err("thread_not_found")
        thread = [m for m in self.messages[channel] if ts in (m["ts"], m.get("thread_ts"))]
        thread.sort(key=lambda m: Decimal(m["ts"]))
        with_metadata = _truthy(p.get("include_all_metadata"))
        return {"ok": True, "messages": [self._listed(m, channel, with_metadata) for m in thread],
                "has_more": False}
