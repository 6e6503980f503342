"""A commerce platform stand-in: a real HTTP server that receives renewbot's webhooks, for tests.

It checks signatures with its own few lines of HMAC (not renewbot's signing module, so a mistake there is
caught here), records what verified, answers per account, and fails on demand: any status, Retry-After,
a slow answer, a dropped connection, a reply body of the test's choosing.

    with PlatformStandIn(secret="whsec-test") as platform:
        platform.answer(status=503, times=2)
        ...
        platform.wait_for(1)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/hooks/renewbot"
MAX_BODY = 1024 * 1024
SIGNATURE_RE = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-f]{64})")


@dataclass
class Received:
    delivery_id: str
    event: str
    headers: dict[str, str]
    body: dict
    raw: bytes
    path: str = PATH


@dataclass(frozen=True)
class _Behaviour:
    status: int = 200
    accounts: dict[str, str | None] | None = None
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False
    reply: bytes | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a sender hanging up is a case under test
        pass


class PlatformStandIn:
    def __init__(self, secret: str = "whsec-test", *, clock: Callable[[], float] = time.time,
                 tolerance: float = 300, tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate file, key file) to serve https://localhost:<port> instead of plain http."""
        self.secret = secret
        self.clock = clock
        self.tolerance = tolerance
        self.deliveries: list[Received] = []
        self.rejected = 0
        self._default = _Behaviour()
        self._queue: deque[list] = deque()  # [behaviour, requests left]
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        port = self._server.server_address[1]
        self.base = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
        self.url = self.base + PATH
        # a short poll keeps shutdown quick: tests start and stop many of these
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> PlatformStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()  # releases answers still waiting out a delay
        self._server.shutdown()
        self._server.server_close()

    def answer(self, *, status: int = 200, accounts: dict[str, str | None] | None = None, times: int | None = None,
               retry_after: str | None = None, delay: float = 0.0, drop: bool = False,
               reply: bytes | None = None) -> None:
        """How to answer the next `times` requests (None: every request from now on, replacing what was queued).
        `accounts`: {id: error text, or None for ok}, on top of every account in the body being ok.
        `reply`: the exact body to answer with, instead of the per-account one."""
        behaviour = _Behaviour(status, accounts, retry_after, delay, drop, reply)
        with self._lock:
            if times is None:
                self._queue.clear()
                self._default = behaviour
            else:
                self._queue.append([behaviour, times])

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise AssertionError(f"the platform got {len(self.deliveries)} deliveries, not {count}, "
                                     f"within {timeout} s ({self.rejected} rejected)")
            return list(self.deliveries)

    def verifies(self, raw: bytes, header: str | None) -> bool:
        match = SIGNATURE_RE.fullmatch(header or "")
        if match is None or abs(self.clock() - int(match[1])) > self.tolerance:
            return False
        expected = hmac.new(self.secret.encode(), match[1].encode() + b"." + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, match[2])

    def _next(self) -> _Behaviour:
        with self._lock:
            if not self._queue:
                return self._default
            entry = self._queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._queue.popleft()
            return entry[0]

    def _record(self, received: Received | None) -> None:
        with self._lock:
            if received is None:
                self.rejected += 1
            else:
                self.deliveries.append(received)
            self._lock.notify_all()

    def _reply(self, behaviour: _Behaviour, body: dict) -> bytes:
        if behaviour.reply is not None:
            return behaviour.reply
        said = dict.fromkeys(a.get("id") for a in body.get("accounts", []) if isinstance(a, dict))
        said.update(behaviour.accounts or {})
        return json.dumps({"accounts": [{"id": ident, "ok": True} if error is None else
                                        {"id": ident, "ok": False, "error": error}
                                        for ident, error in said.items()]}).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = self.headers.get("Content-Length", "")
                if not length.isdigit() or int(length) > MAX_BODY:
                    self.close_connection = True
                    return self._send(413, b'{"error": "body missing or too large"}')
                raw = self.rfile.read(int(length))
                if not platform.verifies(raw, self.headers.get("Renewbot-Signature")):
                    platform._record(None)
                    return self._send(401, b'{"error": "bad signature"}')
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return self._send(400, b'{"error": "not a JSON object"}')
                platform._record(Received(self.headers.get("Renewbot-Delivery", ""),
                                          self.headers.get("Renewbot-Event", ""), dict(self.headers.items()),
                                          body, raw, self.path))
                behaviour = platform._next()
                if behaviour.delay:
                    platform._closing.wait(behaviour.delay)
                if behaviour.drop:
                    self.close_connection = True
                    return None
                extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
                if 300 <= behaviour.status < 400:
                    extra["Location"] = platform.base + "/moved"
                payload = platform._reply(behaviour, body) if 200 <= behaviour.status < 300 else (
                    behaviour.reply or json.dumps({"error": f"answering {behaviour.status} on request"}).encode())
                try:
                    self._send(behaviour.status, payload, extra)
                except OSError:  # the sender gave up waiting: that is what a slow answer tests
                    self.close_connection = True
                return None

        return Handler
