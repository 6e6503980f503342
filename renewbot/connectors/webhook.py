"""The `webhook` connector type: a signed JSON POST to the platform. See README "Connecting your platform".

One call of the sender is one attempt, bounded in time as a whole (a receiver that trickles its answer a
byte at a time is cut at the deadline too) and in what it reads back. Redirects are never followed: they
could carry the signed body, and its secret, to another address.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from renewbot.connectors.base import Attempt, DeliveryRequest, Outcome, Sender
from renewbot.connectors.fields import env_name_problem, unknown_fields
from renewbot.connectors.payload import MAX_REPLY_BYTES, body_secrets, clean_text, parse_reply
from renewbot.connectors.signing import sign
from renewbot.domain.urls import secure_url_problem
from renewbot.errors import ConfigError

FIELDS = {"url", "secret_env"}
DEFAULT_TIMEOUT = 10.0
MAX_RETRY_AFTER = 3600.0  # a receiver may ask for a pause, not park a renewal for days
MAX_ERROR_REPLY = 4096
USER_AGENT = "renewbot"
RETRY_STATUSES = frozenset({408, 429})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value or len(value) > 64:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class _Unanswered(Exception):
    """No HTTP answer came back; `detail` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class WebhookSender:
    """Sends one delivery per call. `clock` gives unix seconds (the signature's timestamp, Retry-After dates)."""

    def __init__(self, url: str, secret: str, *, timeout: float = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.time, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.clock = clock
        self._ssl_context = ssl_context

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"WebhookSender({self.url!r})"

    def headers(self, request: DeliveryRequest) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                "Renewbot-Event": request.event, "Renewbot-Delivery": request.delivery_id,
                "Renewbot-Signature": sign(self._secret, request.body, int(self.clock()))}

    def __call__(self, request: DeliveryRequest) -> Attempt:
        secrets = (*body_secrets(request.body), self._secret)
        try:
            status, retry_after, reply, cut_short = self._post(request)
        except _Unanswered as exc:
            return Attempt(Outcome.RETRY, exc.detail)
        detail = f"HTTP {status}"
        if 200 <= status < 300:
            parsed = parse_reply(reply, secrets=secrets)
            problem = cut_short or parsed.problem
            return Attempt(Outcome.DELIVERED, f"{detail} ({problem})" if problem else detail,
                           accounts=parsed.accounts, response=parsed.data)
        if 300 <= status < 400:
            return Attempt(Outcome.FAILED, f"{detail}: a redirect, not followed (the signed body goes only to "
                                           "the configured url); set url to the final address")
        if status in RETRY_STATUSES or 500 <= status < 600:
            return Attempt(Outcome.RETRY, detail, retry_after=parse_retry_after(retry_after, self.clock()))
        said = _error_text(reply, secrets)
        return Attempt(Outcome.FAILED, f"{detail}: {said}" if said else detail)

    def _post(self, request: DeliveryRequest) -> tuple[int, str | None, bytes, str | None]:
        """(status, Retry-After, reply read so far, why the reply is incomplete) or _Unanswered."""
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout, context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        expired = threading.Event()

        def cut() -> None:  # wakes a blocked read: socket timeouts alone reset with every byte that trickles in
            expired.set()
            if conn.sock is not None:
                with suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(self.timeout, cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                conn.request("POST", target, body=request.body, headers=self.headers(request))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if isinstance(exc, ValueError) and not expired.is_set() and not isinstance(exc, ssl.SSLError):
                    raise  # our own request was malformed (a bad header value): a bug, not the receiver's
                raise _Unanswered(self._describe(exc, expired.is_set(), parts.hostname)) from None
            if expired.is_set():  # cut mid-headers: what was parsed is not the receiver's whole answer
                raise _Unanswered(self._describe(TimeoutError(), True, parts.hostname))
            limit = MAX_REPLY_BYTES + 1 if 200 <= response.status < 300 else MAX_ERROR_REPLY
            try:
                reply, cut_short = response.read(limit), None
            except (OSError, http.client.HTTPException, ValueError):
                reply, cut_short = b"", "reply not read: connection closed"
            watchdog.cancel()
            if expired.is_set():
                reply, cut_short = b"", f"reply not read: timed out after {self.timeout:g} s"
            return response.status, response.getheader("Retry-After"), reply, cut_short
        finally:
            watchdog.cancel()
            conn.close()

    def _describe(self, exc: BaseException, expired: bool, host: str | None) -> str:
        if expired or isinstance(exc, TimeoutError):
            return f"timed out after {self.timeout:g} s"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({clean_text(exc.verify_message or 'verification failed', limit=80)})"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error ({clean_text(str(exc.reason or type(exc).__name__), limit=80)})"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, socket.gaierror):
            return f"host {host} not found"
        if isinstance(exc, (ConnectionResetError, http.client.BadStatusLine, http.client.IncompleteRead,
                            BrokenPipeError)):
            return "connection closed without an answer"
        if isinstance(exc, http.client.HTTPException):
            return f"not an HTTP answer ({type(exc).__name__})"
        return f"connection error ({clean_text(getattr(exc, 'strerror', None) or type(exc).__name__, limit=80)})"


def _error_text(reply: bytes, secrets: tuple[str | None, ...]) -> str | None:
    """The `error` of a refusal's JSON body ({"error": "..."}), made fit to show, or None."""
    try:
        said = json.loads(reply.decode("utf-8")).get("error")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return None
    return clean_text(said, secrets) or None if isinstance(said, str) else None


class WebhookType:
    name = "webhook"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, clock: Callable[[], float] = time.time,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.clock = clock
        self.ssl_context = ssl_context

    def check(self, config: Mapping[str, Any]) -> list[str]:
        problems = unknown_fields(config, FIELDS)
        found = (secure_url_problem(config.get("url"), "url"), env_name_problem(config.get("secret_env")))
        problems += [p for p in found if p]
        return problems

    def secret_env(self, config: Mapping[str, Any]) -> str | None:
        return config.get("secret_env")

    def sender(self, config: Mapping[str, Any], environ: Mapping[str, str]) -> Sender:
        """Raises ConfigError, naming the variable, when the signing secret is not set."""
        name = config.get("secret_env")
        secret = environ.get(name) or "" if isinstance(name, str) else ""
        if not secret.strip():
            raise ConfigError(f"{name} is not set (it holds the webhook's signing secret)")
        problem = secure_url_problem(config.get("url"), "url")
        if problem:
            raise ConfigError(problem)
        return WebhookSender(config["url"], secret, timeout=self.timeout, clock=self.clock,
                             ssl_context=self.ssl_context)


WEBHOOK = WebhookType()
