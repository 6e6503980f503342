"""Checking a new credential with its issuer before it is saved: the only network calls of a renewal.

They run after the owners check and the form's validation, before the write transaction opens, and inside a
deadline that keeps the whole submission in Slack's 3 s window (validation + this + a transaction bounded to
1.5 s). The outcome is one of three: verified; refused (the person's value is wrong: an inline error, nothing
saved); or saved as not verified (the check could not say: issuer down, slow, or renewbot's own settings wrong).

Secrets travel only where they must (the refresh token and client secret to LWA, the value as a Bearer to the
token's verify_url); redirects are never followed, so a Bearer never reaches a host it was not meant for.
Response bodies are read bounded and never logged; nothing here logs a secret.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from renewbot.domain.kinds import Kind
from renewbot.domain.urls import secure_url_problem

logger = logging.getLogger(__name__)

DEADLINE_SECONDS = 1.2
MAX_RESPONSE_BYTES = 16 * 1024
LWA_PATH = "/auth/o2/token"
LWA_SETTINGS_REFUSED = "renewbot's LWA settings were refused (an operator must fix AMAZON_LWA_CLIENT_ID/SECRET)"
# A stored client secret LWA refused is retried with AMAZON_LWA_CLIENT_SECRET only if this much of the deadline is left.
MIN_RETRY_SECONDS = 0.2

VERIFIED, UNVERIFIED, REFUSED = "verified", "unverified", "refused"
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
# What may go into an Authorization header as it is: visible ASCII, no spaces (a PEM or a pasted line break can't).
_BEARER_SAFE = re.compile(r"[\x21-\x7e]{1,4096}")


@dataclass(frozen=True)
class Verification:
    state: str  # VERIFIED, UNVERIFIED or REFUSED
    reason: str = ""  # for people: why not verified, or why refused. Never the secret nor a response body.
    by: str | None = None  # who answered: "Amazon", or the verify_url's host

    @property
    def stored(self) -> str:
        """Renewal.verification: "verified" or "unverified: <why>" (a refusal is never stored: nothing is)."""
        return VERIFIED if self.state == VERIFIED else f"unverified: {self.reason}"


@dataclass(frozen=True)
class StoredSecret:
    """A client secret renewbot keeps in a token, and that token's id (warnings name the token, never the value)."""
    token_id: str
    value: str = field(repr=False)


class Verifier(Protocol):
    def verify(self, *, kind: Kind, secret: str, verify_url: str | None, token_id: str) -> Verification | None:
        """The check's outcome, or None when this token has nothing to check against."""


class NoVerifier:
    """Checks nothing: the default, so renewals work unchanged where no verification is configured."""

    def verify(self, *, kind: Kind, secret: str, verify_url: str | None, token_id: str) -> Verification | None:
        return None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


class _Unanswered(Exception):
    def __init__(self, timed_out: bool) -> None:
        self.timed_out = timed_out


def _request(url: str, *, method: str, headers: dict[str, str], body: bytes | None, deadline: float,
             ssl_context: ssl.SSLContext | None = None) -> _Answer:
    """One request, no redirects followed, the answer read up to MAX_RESPONSE_BYTES, all within `deadline` seconds.

    It runs on its own thread so that a slow name lookup (which socket timeouts don't cover) can't hold the
    submission either; a thread left behind ends at its own socket timeout.
    """
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    result: dict[str, object] = {}
    started = time.monotonic()

    def connect() -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=deadline,
                                               context=ssl_context or ssl.create_default_context())
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=deadline)

    def run() -> None:
        connection = connect()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            result["answer"] = _Answer(response.status, _read_bounded(response, started + deadline))
        except TimeoutError:
            result["timed_out"] = True
        except (OSError, http.client.HTTPException, ValueError):
            pass  # unanswered, and not for want of time: the caller says "could not be reached"
        finally:
            connection.close()

    worker = threading.Thread(target=run, name="renewbot-verify", daemon=True)
    worker.start()
    worker.join(deadline)
    if isinstance(answer := result.get("answer"), _Answer):
        return answer
    # The flag is not redundant with is_alive(): join() can return a moment late, after the thread's own socket
    # timeout (the same `deadline`) has already ended it.
    raise _Unanswered(timed_out=worker.is_alive() or "timed_out" in result)


def _read_bounded(response: http.client.HTTPResponse, until: float) -> bytes:
    """At most MAX_RESPONSE_BYTES, and no read started after `until`: a server trickling bytes can't hold the thread."""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_RESPONSE_BYTES and time.monotonic() < until:
        chunk = response.read1(min(4096, MAX_RESPONSE_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _error_code(body: bytes) -> str | None:
    """OAuth's `error` field, only when it is a plain code: never an echo of whatever the body holds."""
    code = _json_object(body).get("error")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def _client_refused(answer: _Answer) -> bool:
    """LWA refused renewbot's client (id or secret), not the person's token."""
    return _error_code(answer.body) in ("invalid_client", "unauthorized_client") or answer.status == 401


class HttpVerifier:
    """The checks the kinds table and the tokens ask for: LWA for SP-API refresh tokens, a token's verify_url."""

    def __init__(self, *, lwa_url: str, lwa_client_id: str | None = None,
                 lwa_client_secret: str | None = None, deadline: float = DEADLINE_SECONDS,
                 ssl_context: ssl.SSLContext | None = None,
                 stored_lwa_secret: Callable[[], StoredSecret | None] | None = None) -> None:
        self.lwa_url = lwa_url.rstrip("/")
        self.lwa_client_id = lwa_client_id
        self.lwa_client_secret = lwa_client_secret
        self.deadline = deadline
        self.ssl_context = ssl_context  # None: the system's CAs and host name checks; a test trusts its own CA
        # The app's client secret as renewbot tracks it (renewbot.usecases.amazon.lwa_secret_source), asked at each
        # check so that renewing it counts at once; when it has one, it wins over lwa_client_secret (which is tried
        # once more only when LWA refuses the stored one: a mistyped renewal must not stop a working setup).
        self.stored_lwa_secret = stored_lwa_secret

    def __repr__(self) -> str:  # the client secret must not reach a log line through repr()
        stored = ", stored secret first" if self.stored_lwa_secret else ""
        return f"HttpVerifier(lwa_url={self.lwa_url!r}, lwa={'on' if self._lwa_ready() else 'off'}{stored})"

    @classmethod
    def from_settings(cls, settings, *,
                      stored_lwa_secret: Callable[[], StoredSecret | None] | None = None) -> HttpVerifier:
        return cls(lwa_url=settings.amazon_lwa_url, lwa_client_id=settings.amazon_lwa_client_id,
                   lwa_client_secret=settings.amazon_lwa_client_secret, stored_lwa_secret=stored_lwa_secret)

    def _lwa_ready(self) -> bool:
        """Whether the environment alone has what an exchange needs (a stored secret may stand in for its secret)."""
        return bool(self.lwa_client_id and self.lwa_client_secret)

    def verify(self, *, kind: Kind, secret: str, verify_url: str | None, token_id: str) -> Verification | None:
        # A token's own verify_url is the more specific instruction: it wins over its kind's issuer check.
        if verify_url:
            return self.check_url(verify_url, secret=secret, value_label=kind.value_label)
        check: Callable[..., Verification | None] | None = {"lwa": self.check_lwa}.get(kind.verifier or "")
        return check(secret, token_id=token_id) if check else None

    def check_lwa(self, refresh_token: str, *, token_id: str) -> Verification | None:
        if not self.lwa_client_id:
            return None  # no client to sign in as (and the store is not asked)
        stored = self.stored_lwa_secret() if self.stored_lwa_secret is not None else None
        client_secret = stored.value if stored else self.lwa_client_secret
        if not client_secret:
            return None  # nothing to exchange with: not a failure of the person's token
        stored_label = f"the client secret stored in token {stored.token_id}" if stored else ""
        started = time.monotonic()
        answer = self._exchange(refresh_token, client_secret, self.deadline)
        if not isinstance(answer, _Answer):
            return answer
        fallback = self.lwa_client_secret
        left = self.deadline - (time.monotonic() - started)
        if not (stored and fallback and fallback != stored.value and _client_refused(answer)
                and left >= MIN_RETRY_SECONDS):
            return self._lwa_outcome(answer, token_id, stored_label or "AMAZON_LWA_CLIENT_SECRET")
        retry = self._exchange(refresh_token, fallback, left)
        if not isinstance(retry, _Answer):  # the environment's could not be tried: the stored one was refused
            return self._lwa_outcome(answer, token_id, stored_label)
        if _client_refused(retry):
            return self._lwa_outcome(retry, token_id, f"{stored_label} and AMAZON_LWA_CLIENT_SECRET (both refused)")
        logger.warning("Amazon LWA refused %s (HTTP %s, %s) while verifying the renewal of %s, and accepted "
                       "AMAZON_LWA_CLIENT_SECRET, which was used instead: renew token %s with the app's current "
                       "client secret", stored_label, answer.status, _error_code(answer.body) or "no error code",
                       token_id, stored.token_id)
        return self._lwa_outcome(retry, token_id, "AMAZON_LWA_CLIENT_SECRET")

    def _exchange(self, refresh_token: str, client_secret: str, deadline: float) -> _Answer | Verification:
        """One refresh-token exchange with LWA: its answer, or the UNVERIFIED outcome when none came in time."""
        body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token,
                          "client_id": self.lwa_client_id, "client_secret": client_secret}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", "Accept": "application/json",
                   "User-Agent": "renewbot"}
        try:
            return _request(self.lwa_url + LWA_PATH, method="POST", headers=headers, body=body,
                            deadline=deadline, ssl_context=self.ssl_context)
        except _Unanswered as exc:
            why = f"did not answer within {self.deadline:g} s" if exc.timed_out else "could not be reached"
            return Verification(UNVERIFIED, f"Amazon {why}", by="Amazon")

    def _lwa_outcome(self, answer: _Answer, token_id: str, secret_from: str) -> Verification:
        code = _error_code(answer.body)
        if answer.status == 200:
            token = _json_object(answer.body).get("access_token")
            if isinstance(token, str) and token:
                return Verification(VERIFIED, by="Amazon")
            return Verification(UNVERIFIED, "Amazon answered without an access token", by="Amazon")
        if code == "invalid_grant":
            return Verification(REFUSED, "Amazon refused this refresh token (invalid_grant): it may be revoked, "
                                         "replaced by a newer one, or not copied whole. Nothing was saved; "
                                         "authorise again and paste the new one.", by="Amazon")
        if _client_refused(answer):
            # Not the person's fault, and only an operator can fix it: say so to them, tell the operator here.
            logger.warning("Amazon LWA refused renewbot's client credentials (HTTP %s, %s) while verifying the "
                           "renewal of %s: check AMAZON_LWA_CLIENT_ID and %s; the token was "
                           "saved as not verified", answer.status, code or "no error code", token_id, secret_from)
            return Verification(UNVERIFIED, LWA_SETTINGS_REFUSED, by="Amazon")
        return Verification(UNVERIFIED, f"Amazon answered HTTP {answer.status}{f' ({code})' if code else ''}",
                            by="Amazon")

    def check_url(self, url: str, *, secret: str, value_label: str = "token") -> Verification:
        host = urlsplit(url).hostname if secure_url_problem(url, "verify_url") is None else None
        if host is None:
            return Verification(UNVERIFIED, "its verify_url is not a usable https:// URL")
        if not _BEARER_SAFE.fullmatch(secret):
            return Verification(UNVERIFIED, f"this {value_label} can't be sent as a Bearer token to {host}", by=host)
        headers = {"Authorization": f"Bearer {secret}", "Accept": "*/*", "User-Agent": "renewbot"}
        try:
            answer = _request(url, method="GET", headers=headers, body=None, deadline=self.deadline,
                              ssl_context=self.ssl_context)
        except _Unanswered as exc:
            why = f"did not answer within {self.deadline:g} s" if exc.timed_out else "could not be reached"
            return Verification(UNVERIFIED, f"{host} {why}", by=host)
        if 200 <= answer.status < 300:
            return Verification(VERIFIED, by=host)
        if answer.status in (401, 403):
            return Verification(REFUSED, f"{host} refused this {value_label} (HTTP {answer.status}): check you "
                                         "copied the new one whole and that it is active. Nothing was saved.",
                                by=host)
        if 300 <= answer.status < 400:
            return Verification(UNVERIFIED, f"{host} answered with a redirect (HTTP {answer.status}), which renewbot "
                                            "does not follow", by=host)
        return Verification(UNVERIFIED, f"{host} answered HTTP {answer.status}", by=host)
