"""The bodies renewbot sends (a contract: exact keys, order and formats) and the helpers around them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from renewbot.connectors.payload import (
    MAX_ERROR_TEXT,
    body_secrets,
    clean_text,
    parse_reply,
    ping_body,
    redact,
    renewed_body,
    utc_text,
)
from tests.connectors.conftest import PLANTED, renewal_request


def test_the_renewed_body_is_the_documented_contract():
    body = renewal_request("dlv-7").body
    assert json.loads(body) == {
        "type": "token.renewed", "delivery_id": "dlv-7", "renewal_id": 12, "occurred_at": "2026-11-27T10:00:00Z",
        "renewed_by": "U0123",
        "token": {"id": "amazon-eu-mws", "kind": "amazon-mws", "name": "Amazon EU MWS", "app_id": "532089569783",
                  "secret": PLANTED, "expires_at": "2027-11-27T00:00:00Z"},
        "accounts": [{"id": "amazon-uk", "name": "Amazon UK", "enabled": True, "fetch_orders": True},
                     {"id": "amazon-de", "name": "Amazon DE", "enabled": True, "fetch_orders": False}]}
    assert list(json.loads(body)) == ["type", "delivery_id", "renewal_id", "occurred_at", "renewed_by", "token",
                                      "accounts"]
    assert body.isascii() and b"\n" not in body


def test_accounts_may_be_rows_and_times_any_zone_or_naive_utc():
    @dataclass
    class Row:
        id: str
        name: str
        enabled: bool
        fetch_orders: bool

    body = json.loads(renewed_body(
        delivery_id="d", renewal_id=1, occurred_at=datetime(2026, 11, 27, 11, 0, 0, 999, tzinfo=timezone(
            timedelta(hours=1))), renewed_by=None, token_id="t", kind="generic", name="Ünïcode", app_id=None,
        secret="s", expires_at=datetime(2027, 1, 1), accounts=[Row("a", "A", False, True)]))
    assert body["occurred_at"] == "2026-11-27T10:00:00Z" and body["token"]["expires_at"] == "2027-01-01T00:00:00Z"
    assert body["accounts"] == [{"id": "a", "name": "A", "enabled": False, "fetch_orders": True}]
    assert body["renewed_by"] is None and body["token"]["app_id"] is None and body["token"]["name"] == "Ünïcode"


def test_the_ping_body():
    body = ping_body(delivery_id="ping-1", occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), connector="c")
    assert body == b'{"type":"ping","delivery_id":"ping-1","occurred_at":"2026-01-02T03:04:05Z","connector":"c"}'
    assert body_secrets(body) == ()


def test_body_secrets_are_the_raw_and_json_forms():
    assert body_secrets(renewal_request().body) == (PLANTED,)
    tricky = 'a"b\\c/é'
    forms = body_secrets(renewal_request(secret=tricky).body)
    assert forms == (tricky, 'a\\"b\\\\c/\\u00e9', 'a\\"b\\\\c/é')
    assert body_secrets(b"not json") == () and body_secrets(b'{"token": "x"}') == ()


@given(st.text(max_size=300), st.text(min_size=1, max_size=40))
def test_clean_text_never_lets_the_secret_or_control_characters_through(text, secret):
    cleaned = clean_text(text + secret + text, [secret])
    assert len(cleaned) <= MAX_ERROR_TEXT
    assert not any(ord(c) < 32 or ord(c) == 127 for c in cleaned)
    if len(secret) >= 8 and secret.strip() == secret and secret.isprintable():
        assert secret not in cleaned


@given(st.binary(max_size=2000))
def test_any_reply_bytes_parse_without_raising(raw):
    reply = parse_reply(raw, secrets=["s3cret"])
    assert all(a.error is None or len(a.error) <= MAX_ERROR_TEXT for a in reply.accounts)


def test_utc_text_and_redact():
    assert utc_text(datetime(2026, 11, 27, 10, 0, 0, 123456)) == "2026-11-27T10:00:00Z"
    assert redact("a s3 b s3", ["s3", None, ""]) == "a [redacted] b [redacted]"
