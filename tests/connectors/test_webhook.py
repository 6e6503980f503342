"""The webhook sender against a real HTTP receiver (the platform stand-in): one attempt, classified."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from renewbot.connectors.base import AccountResult, Attempt, Outcome
from renewbot.connectors.signing import sign
from renewbot.connectors.webhook import MAX_RETRY_AFTER, WEBHOOK, WebhookSender, WebhookType, parse_retry_after
from renewbot.errors import ConfigError
from tests.connectors.conftest import PLANTED, WEBHOOK_SECRET, renewal_request
from tests.support.platform import PlatformStandIn
from tests.support.tls_server import make_certificate

T = 1_790_000_000


def send(url: str, request=None, **kwargs) -> Attempt:
    attempt = WebhookSender(url, WEBHOOK_SECRET, **kwargs)(request or renewal_request())
    # whatever happened, what renewbot keeps of it never holds the secret it sent
    assert PLANTED not in repr(attempt) and WEBHOOK_SECRET not in repr(attempt)
    return attempt


def test_delivered_with_the_per_account_answer(platform):
    platform.answer(accounts={"amazon-de": "seller account suspended"})
    attempt = send(platform.url)
    assert attempt.outcome is Outcome.DELIVERED and attempt.detail == "HTTP 200"
    assert attempt.accounts == (AccountResult("amazon-uk", True),
                                AccountResult("amazon-de", False, "seller account suspended"))
    assert attempt.response == {"accounts": [{"id": "amazon-uk", "ok": True},
                                             {"id": "amazon-de", "ok": False, "error": "seller account suspended"}]}
    assert len(platform.deliveries) == 1 and platform.rejected == 0


def test_the_request_exactly():
    request = renewal_request("dlv-exact")
    with PlatformStandIn(secret=WEBHOOK_SECRET, clock=lambda: T) as platform:
        assert send(platform.url, request, clock=lambda: T).outcome is Outcome.DELIVERED
        got = platform.deliveries[0]
    assert got.raw == request.body  # the bytes given, unchanged
    assert got.path == "/hooks/renewbot" and got.delivery_id == "dlv-exact" and got.event == "token.renewed"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == "renewbot"
    assert got.headers["Renewbot-Event"] == "token.renewed"
    assert got.headers["Renewbot-Delivery"] == "dlv-exact"
    assert got.headers["Renewbot-Signature"] == sign(WEBHOOK_SECRET, request.body, T)
    assert got.headers["Content-Length"] == str(len(request.body))
    assert set(got.headers) == {"Host", "Accept-Encoding", "Content-Length", "Content-Type", "User-Agent",
                                "Renewbot-Event", "Renewbot-Delivery", "Renewbot-Signature"}


def test_a_stale_or_wrong_signature_is_what_a_receiver_refuses(platform):
    assert send(platform.url, clock=lambda: time.time() - 3600).detail == "HTTP 401: bad signature"
    wrong = WebhookSender(platform.url, "whsec-wrong")(renewal_request())
    assert wrong.outcome is Outcome.FAILED and platform.rejected == 2 and platform.deliveries == []


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_retried_statuses(platform, status):
    platform.answer(status=status)
    attempt = send(platform.url)
    assert attempt == Attempt(Outcome.RETRY, f"HTTP {status}")


def test_retry_after_in_seconds_and_as_a_date_capped():
    with PlatformStandIn(secret=WEBHOOK_SECRET, clock=lambda: T) as platform:
        platform.answer(status=429, retry_after="120", times=1)
        platform.answer(status=503, retry_after=format_datetime(datetime.fromtimestamp(T + 90, UTC), usegmt=True),
                        times=1)
        platform.answer(status=429, retry_after="999999", times=1)
        platform.answer(status=429, retry_after="soon", times=1)
        assert send(platform.url, clock=lambda: T).retry_after == 120
        assert send(platform.url, clock=lambda: T).retry_after == 90
        assert send(platform.url, clock=lambda: T).retry_after == MAX_RETRY_AFTER
        assert send(platform.url, clock=lambda: T).retry_after is None
        assert len(platform.deliveries) == 4  # each attempt reached the receiver: the same signed request


def test_parse_retry_after():
    assert parse_retry_after("0", T) == 0 and parse_retry_after(" 7 ", T) == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", T) == 0  # in the past: now
    assert parse_retry_after(None, T) is None and parse_retry_after("-5", T) is None
    assert parse_retry_after("1" * 100, T) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_other_client_errors_fail_at_once_with_the_receivers_reason(platform, status):
    platform.answer(status=status)
    attempt = send(platform.url)
    assert attempt.outcome is Outcome.FAILED
    assert attempt.detail == f"HTTP {status}: answering {status} on request"


def test_a_refusal_that_echoes_the_secret_is_redacted(platform):
    platform.answer(status=400, reply=json.dumps({"error": f"bad token {PLANTED}\n\x1b[31m!"}).encode())
    assert send(platform.url).detail == "HTTP 400: bad token [redacted] [31m!"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_fail_and_are_not_followed(platform, status):
    platform.answer(status=status)
    attempt = send(platform.url)
    assert attempt.outcome is Outcome.FAILED and attempt.detail.startswith(f"HTTP {status}: a redirect, not followed")
    assert [d.path for d in platform.deliveries] == ["/hooks/renewbot"]  # nothing reached /moved


def test_a_slow_answer_times_out_and_is_retried(platform):
    platform.answer(delay=3.0)
    attempt = send(platform.url, timeout=0.3)
    assert attempt == Attempt(Outcome.RETRY, "timed out after 0.3 s")


def test_a_dropped_connection_is_retried(platform):
    platform.answer(drop=True, times=1)
    assert send(platform.url) == Attempt(Outcome.RETRY, "connection closed without an answer")
    assert send(platform.url).outcome is Outcome.DELIVERED  # and the next attempt goes through
    assert [d.delivery_id for d in platform.deliveries] == ["dlv-1", "dlv-1"]


def test_nobody_listening_is_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert send(f"http://127.0.0.1:{port}/hooks") == Attempt(Outcome.RETRY, "connection refused")


class Trickler:
    """Answers 200 a byte at a time: each byte well inside a socket timeout, the whole far beyond the deadline."""

    def __init__(self, answer: bytes, every: float, head: bytes = b"") -> None:
        self.answer, self.every, self.head = answer, every, head
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(self.head)
            for byte in self.answer:
                if self.done.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return


def test_a_receiver_trickling_its_headers_is_cut_at_the_deadline():
    trickler = Trickler(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n{}", 0.02)
    try:
        assert send(trickler.url, timeout=0.5) == Attempt(Outcome.RETRY, "timed out after 0.5 s")
    finally:
        trickler.done.set()


def test_a_2xx_whose_reply_trickles_is_delivered_without_the_reply():
    trickler = Trickler(b" " * 4000, 0.02, head=b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n")
    try:
        attempt = send(trickler.url, timeout=0.5)
    finally:
        trickler.done.set()
    assert attempt.outcome is Outcome.DELIVERED
    assert attempt.detail == "HTTP 200 (reply not read: timed out after 0.5 s)" and attempt.accounts == ()


@pytest.mark.parametrize(("reply", "problem"), [
    (b"not json", "reply ignored: not JSON"),
    (b"[" * 60_000, "reply ignored: not JSON"),
    (b"\xff\xfe", "reply ignored: not JSON"),
    (b'["accounts"]', "reply ignored: not a JSON object"),
    (b'{"accounts": {"amazon-uk": true}}', "reply's accounts ignored: not a list"),
    (b'{"accounts": [{"id": "amazon-uk", "ok": "yes"}]}', "reply's accounts ignored: each must be {id, ok, error}"),
    (b'{"accounts": [{"id": "amazon uk!", "ok": true}]}', "reply's accounts ignored: each must be {id, ok, error}"),
    (b'{"accounts": [{"id": "amazon-uk", "ok": false, "error": 5}]}',
     "reply's accounts ignored: each must be {id, ok, error}"),
    (json.dumps({"accounts": [{"id": f"a{i}", "ok": True} for i in range(501)]}).encode(),
     "reply's accounts ignored: more than 500"),
    (b'{"x": ' + b'{"y": ' * 30 + b"1" + b"}" * 31, "reply ignored: nested too deeply"),
    (b'{"accounts": []}' + b" " * (64 * 1024), "reply ignored: larger than 64 KiB"),
    (json.dumps({"padding": "x" * 10_000_000}).encode(), "reply ignored: larger than 64 KiB"),
])
def test_a_malformed_or_huge_reply_is_still_delivered_without_account_results(platform, reply, problem):
    platform.answer(reply=reply)
    attempt = send(platform.url)
    assert attempt.outcome is Outcome.DELIVERED
    assert attempt.detail == f"HTTP 200 ({problem})" and attempt.accounts == ()


def test_empty_replies_and_other_2xx_are_delivered(platform):
    platform.answer(status=204, reply=b"", times=1)
    platform.answer(status=202, reply=b'{"queued": true}', times=1)
    assert send(platform.url) == Attempt(Outcome.DELIVERED, "HTTP 204")
    second = send(platform.url)
    assert second == Attempt(Outcome.DELIVERED, "HTTP 202") and second.response == {"queued": True}


def test_account_errors_are_cleaned_clipped_and_redacted(platform):
    hostile = "suspended\x00\x1b[2J\u202e" + PLANTED + " " + WEBHOOK_SECRET + " " + "y" * 500
    platform.answer(accounts={"amazon-de": hostile, "amazon-uk": ""}, times=1)
    attempt = send(platform.url)
    uk, de = attempt.accounts
    assert uk == AccountResult("amazon-uk", False, "refused (no reason given)")
    assert de.error.startswith("suspended [2J [redacted] [redacted] yyy") and len(de.error) == 200
    assert PLANTED not in json.dumps(attempt.response) and WEBHOOK_SECRET not in json.dumps(attempt.response)


def test_the_first_answer_for_an_account_counts(platform):
    platform.answer(reply=b'{"accounts": [{"id": "amazon-uk", "ok": true}, {"id": "amazon-uk", "ok": false}]}')
    assert send(platform.url).accounts == (AccountResult("amazon-uk", True),)


def test_the_sender_needs_its_secret_and_names_the_variable():
    config = {"url": "https://commerce.example/hooks", "secret_env": "COMMERCE_EU_WEBHOOK_SECRET"}
    for environ in ({}, {"COMMERCE_EU_WEBHOOK_SECRET": ""}, {"COMMERCE_EU_WEBHOOK_SECRET": "  "}):
        with pytest.raises(ConfigError, match="COMMERCE_EU_WEBHOOK_SECRET is not set"):
            WEBHOOK.sender(config, environ)
    sender = WEBHOOK.sender(config, {"COMMERCE_EU_WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert WEBHOOK_SECRET not in repr(sender) and sender.timeout == 10


def test_the_type_builds_a_sender_with_its_timeout_and_clock(platform):
    kind = WebhookType(timeout=2, clock=lambda: T)
    sender = kind.sender({"url": platform.url, "secret_env": "S"}, {"S": WEBHOOK_SECRET})
    assert sender.timeout == 2
    assert sender.headers(renewal_request())["Renewbot-Signature"].startswith(f"t={T},v1=")


@pytest.fixture
def certificate(tmp_path):
    cert, key = make_certificate(datetime.now(UTC) + timedelta(days=30), common_name="localhost")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    return str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")


def test_https_with_a_certificate_we_do_not_trust_is_retried_and_nothing_is_sent(certificate):
    with PlatformStandIn(secret=WEBHOOK_SECRET, tls=certificate) as platform:
        assert platform.url.startswith("https://localhost:")
        attempt = send(platform.url)
        assert attempt.outcome is Outcome.RETRY and attempt.detail.startswith("TLS certificate not accepted (")
        assert "self-signed" in attempt.detail and platform.deliveries == []
        trusted = ssl.create_default_context(cafile=certificate[0])
        assert send(platform.url, ssl_context=trusted) == Attempt(Outcome.DELIVERED, "HTTP 200", accounts=(
            AccountResult("amazon-uk", True), AccountResult("amazon-de", True)))
        assert len(platform.deliveries) == 1
