"""The Renewbot-Signature header: what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from renewbot.connectors.signing import MAX_HEADER, sign, verify

SECRET = "whsec-signing-test"
BODY = b'{"type":"ping","delivery_id":"d-1"}'
T = 1_790_000_000


def test_the_header_is_the_documented_hmac_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_round_trip_within_the_tolerance():
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, BODY, header, now=T)
    assert verify(SECRET, BODY, header, now=T + 300) and verify(SECRET, BODY, header, now=T - 300)
    assert not verify(SECRET, BODY, header, now=T + 301)
    assert not verify(SECRET, BODY, header, now=T - 301)
    assert verify(SECRET, BODY, header, now=T + 3000, tolerance=3600)


@pytest.mark.parametrize("tamper", [
    lambda h, b: (h, b + b" "),  # a changed body
    lambda h, b: (h, b.replace(b"d-1", b"d-2")),
    lambda h, b: (h.replace(f"t={T}", f"t={T + 1}"), b),  # a moved timestamp
    lambda h, b: (h[:-1] + ("0" if h[-1] != "0" else "1"), b),  # a changed signature
    lambda h, b: (h.upper(), b),
    lambda h, b: (h + ",", b),
    lambda h, b: (" " + h, b),
    lambda h, b: (h.replace(",", ";"), b),
    lambda h, b: (h.split(",")[1], b),  # no timestamp
    lambda h, b: (h.split(",")[0], b),  # no signature
    lambda h, b: ("", b),
    lambda h, b: (None, b),
])
def test_tampering_is_refused(tamper):
    header, body = tamper(sign(SECRET, BODY, T), BODY)
    assert not verify(SECRET, body, header, now=T)


def test_another_secret_is_refused_and_an_empty_one_never_verifies():
    header = sign(SECRET, BODY, T)
    assert not verify("whsec-other", BODY, header, now=T)
    assert not verify("", BODY, header, now=T)
    with pytest.raises(ValueError):
        sign("", BODY, T)


def test_a_receiver_rotating_its_secret_may_be_sent_two_signatures():
    old, new = sign("whsec-old", BODY, T), sign(SECRET, BODY, T)
    both = f"{new},v1={old.split('v1=')[1]}"
    assert verify(SECRET, BODY, both, now=T) and verify("whsec-old", BODY, both, now=T)
    assert not verify("whsec-third", BODY, both, now=T)


def test_headers_are_bounded_before_any_work():
    header = sign(SECRET, BODY, T)
    padded = header + "".join(f",v1={'0' * 64}" for _ in range(10))
    assert not verify(SECRET, BODY, padded, now=T)  # at most four signatures
    assert not verify(SECRET, BODY, header + "," + "x" * MAX_HEADER, now=T)
    assert not verify(SECRET, BODY, f"t={'9' * 13},v1={'0' * 64}", now=T)
