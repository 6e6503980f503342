"""Reading expiry from a pasted JWT or certificate: real values, and hostile ones (never another exception, never
slow, never the value repeated in a message)."""

from __future__ import annotations

import base64
import math
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from renewbot.domain.credentials import (
    LATEST_EXP,
    MAX_JWT_SEGMENT,
    MAX_VALUE,
    PRIVATE_KEY,
    CredentialProblem,
    ReadCredential,
    has_private_key,
    read_certificate,
    read_jwt,
)
from tests.support.credentials import b64url, make_certificate, make_jwt, private_key_pem

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "renewbot-hypothesis")

EXPIRY = datetime(2027, 3, 1, 12, 30, 5, tzinfo=UTC)
PEM = make_certificate(EXPIRY)  # made once: Hypothesis replays draws against the same text
FUZZ = settings(database=None, deadline=500, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def payload(raw: bytes) -> str:
    """A JWT with an empty header object, this payload, and a nonsense signature."""
    return f"e30.{b64url(raw)}.c2ln"


def problem(read, value) -> str:
    with pytest.raises(CredentialProblem) as caught:
        read(value)
    return str(caught.value)


# --- JWT ------------------------------------------------------------------------------------------

def test_a_jwts_exp_is_its_expiry_in_utc():
    assert read_jwt(make_jwt({"sub": "svc", "exp": int(EXPIRY.timestamp())})) == ReadCredential(EXPIRY, None)


def test_a_fractional_exp_counts_whole_seconds_and_surrounding_whitespace_is_ignored():
    value = make_jwt({"exp": EXPIRY.timestamp() + 0.75})
    assert read_jwt(f"  {value}\n").expires_at == EXPIRY


def test_an_unsigned_jwt_is_read_too():  # alg "none": an empty signature segment
    head, body, _ = make_jwt({"exp": int(EXPIRY.timestamp())}, header={"alg": "none"}).split(".")
    assert read_jwt(f"{head}.{body}.").expires_at == EXPIRY


@pytest.mark.parametrize("value, says", [
    ("", "Paste the JWT."),
    (None, "Paste the JWT."),
    ("a.b", "three parts"),
    ("a.b.c.d", "three parts"),
    ("a.b.c.d.e", "encrypted JWT"),
    ("e30.e30.!!", "signature is not base64url"),
    ("e30.e3=0.x", "payload is not base64url"),
    ("e.e30.x", "header is not base64url"),  # a length no base64 has
    (f"{b64url(b'[1]')}.e30.x", "header is not a JSON object"),
    (payload(b"not json"), "payload is not a JSON object"),
    (payload(bytes([0xff, 0xfe])), "payload is not a JSON object"),
    ("e30.e30.c2ln", "no expiry (`exp`)"),
    (payload(b'{"exp": "2027-01-01"}'), "not a number of seconds"),
    (payload(b'{"exp": true}'), "not a number of seconds"),
    (payload(b'{"exp": -1}'), "not a real date"),
    (payload(b'{"exp": %d}' % (LATEST_EXP + 1)), "not a real date"),
    (payload(b'{"exp": 1e400}'), "not a real date"),
    (payload(b'{"exp": NaN}'), "payload is not a JSON object"),
    (payload(b'{"exp": Infinity}'), "payload is not a JSON object"),
    (payload(b'{"a":' * 40 + b"1" + b"}" * 40), "payload is not a JSON object"),  # too deep
    (payload(b'{"exp": ' + b"9" * 5000 + b"}"), "payload is not a JSON object"),  # an int too long to convert
    ("e30." + "A" * (MAX_JWT_SEGMENT + 4) + ".x", "too long to be real"),
    ("x" * (MAX_VALUE + 1), "far too long"),
])
def test_what_is_wrong_with_a_jwt_is_said_plainly(value, says):
    assert says in problem(read_jwt, value)


def test_exp_at_the_edges_of_the_range():
    assert read_jwt(make_jwt({"exp": 0})).expires_at == datetime(1970, 1, 1, tzinfo=UTC)
    assert read_jwt(make_jwt({"exp": LATEST_EXP})).expires_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


# --- certificates ---------------------------------------------------------------------------------

def test_a_certificates_not_after_and_subject():
    read = read_certificate(make_certificate(EXPIRY, common_name="shop.example"))
    assert read == ReadCredential(EXPIRY, "CN=shop.example")


def test_in_a_chain_the_first_certificate_is_the_leaf_that_counts():
    leaf = make_certificate(EXPIRY, common_name="leaf.example")
    ca = make_certificate(EXPIRY + timedelta(days=3000), common_name="Example CA")
    read = read_certificate(f"Subject: leaf\n{leaf}\n{ca}")
    assert (read.expires_at, read.subject) == (EXPIRY, "CN=leaf.example")


def test_windows_line_endings_and_indentation_do_not_matter():
    pem = make_certificate(EXPIRY)
    assert read_certificate("\r\n".join("   " + line for line in pem.splitlines())).expires_at == EXPIRY


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional", "openssh"])
def test_a_private_key_is_refused_alone_or_inside_a_chain(fmt):
    key = private_key_pem(fmt)
    assert has_private_key(key)
    assert problem(read_certificate, key) == PRIVATE_KEY
    cert = make_certificate(EXPIRY)
    assert problem(read_certificate, f"{cert}\n{key}") == PRIVATE_KEY
    assert problem(read_certificate, f"{key}{cert}") == PRIVATE_KEY
    assert PRIVATE_KEY.startswith("This is a private key, not a certificate")


def test_an_encrypted_private_key_is_refused_too():
    assert has_private_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----")
    assert not has_private_key(make_certificate(EXPIRY))
    assert not has_private_key("my PRIVATE KEY----- is safe")  # only a PEM header counts


@pytest.mark.parametrize("value, says", [
    ("", "Paste the certificate."),
    ("MIIBszCCAVmgAwIBAgIU", "PEM form"),
    ("-----BEGIN CERTIFICATE-----\nMIIB\n", "no -----END CERTIFICATE-----"),
    ("-----BEGIN CERTIFICATE-----\nMII*B\n-----END CERTIFICATE-----", "not base64"),
    ("-----BEGIN CERTIFICATE-----\nMIIBé\n-----END CERTIFICATE-----", "not base64"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a readable X.509 certificate"),
    ("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", "not a readable X.509 certificate"),
])
def test_what_is_wrong_with_a_certificate_is_said_plainly(value, says):
    assert says in problem(read_certificate, value)


def test_a_truncated_certificate_is_unreadable_not_an_error():
    lines = make_certificate(EXPIRY).splitlines()
    cut = "\n".join(lines[:4] + lines[-1:])
    assert "not" in problem(read_certificate, cut)


# --- hostile values: only CredentialProblem, quickly, and never the value in the message ----------

def _judge(read, value):
    try:
        result = read(value)
    except CredentialProblem as exc:
        message = str(exc)
        assert message and len(message) < 300
        if isinstance(value, str) and len(value.strip()) >= 12:
            # The messages name the PEM armour lines themselves; anything else of the value must not be in them.
            assert value.strip() not in message.replace("-----BEGIN CERTIFICATE-----", "").replace(
                "-----END CERTIFICATE-----", "")
        return None
    assert isinstance(result, ReadCredential) and result.expires_at.tzinfo is not None
    return result


segment = st.one_of(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ",
                            max_size=200),
                    st.binary(max_size=300).map(b64url),
                    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5),
                                                                                             inner, max_size=4),
                                 max_leaves=20).map(lambda v: b64url(repr(v).encode())))
claims = st.dictionaries(st.sampled_from(["exp", "iat", "sub", "x"]),
                         st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True), st.text(max_size=10),
                                   st.booleans(), st.none(), st.lists(st.integers(), max_size=3)), max_size=4)


@FUZZ
@given(value=st.one_of(st.text(max_size=400), st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
                       st.lists(segment, min_size=1, max_size=6).map(".".join),
                       claims.map(make_jwt), st.none(), st.integers()))
@example(value="." * 5000)
@example(value="e30." + "A" * 20000 + ".x")
def test_hostile_jwts(value):
    _judge(read_jwt, value)


@FUZZ
@given(claims=claims)
def test_any_jwt_with_an_exp_in_range_is_read_exactly(claims):
    result = _judge(read_jwt, make_jwt(claims))
    exp = claims.get("exp")
    # json.dumps writes NaN and Infinity, which are not JSON: such a payload is refused whole.
    valid_json = all(math.isfinite(v) for v in claims.values() if isinstance(v, float))
    in_range = (valid_json and isinstance(exp, int | float) and not isinstance(exp, bool)
                and 0 <= exp <= LATEST_EXP)
    assert (result is not None) == in_range
    if result is not None:
        assert result.expires_at == datetime.fromtimestamp(int(exp), UTC)


def _mangle(pem: str, data) -> str:
    lines = pem.splitlines()
    how = data.draw(st.sampled_from(["drop", "flip", "insert", "truncate", "swap_armour", "junk_body"]))
    n = data.draw(st.integers(0, len(lines) - 1))
    if how == "drop":
        del lines[n]
    elif how == "flip" and lines[n]:
        i = data.draw(st.integers(0, len(lines[n]) - 1))
        lines[n] = lines[n][:i] + data.draw(st.characters(codec="ascii")) + lines[n][i + 1:]
    elif how == "insert":
        lines.insert(n, data.draw(st.text(max_size=80)))
    elif how == "truncate":
        return pem[:data.draw(st.integers(0, len(pem)))]
    elif how == "swap_armour":
        lines[0], lines[-1] = lines[-1], lines[0]
    else:
        body = base64.b64encode(data.draw(st.binary(max_size=600))).decode()
        lines = [lines[0], body, lines[-1]]
    return "\n".join(lines)


@FUZZ
@given(data=st.data())
def test_mangled_certificates(data):
    _judge(read_certificate, _mangle(PEM, data))


@FUZZ
@given(value=st.one_of(st.text(max_size=500), st.binary(max_size=500).map(lambda b: b.decode("latin-1")),
                       st.builds(lambda a, b, c: f"{a}-----BEGIN {b}-----{c}",
                                 st.text(max_size=50), st.text(max_size=60), st.text(max_size=200)),
                       st.none()))
def test_hostile_pem(value):
    _judge(read_certificate, value)
    has_private_key(value) if isinstance(value, str) else None


@pytest.mark.parametrize("value", [
    "-----BEGIN " + "A " * 30000,  # long runs after a PEM header: the label is bounded, so the scan is linear
    ("-----BEGIN " + "A" * 39 + " ") * 1400 + "PRIVATE KEY-----",
    "-----BEGIN CERTIFICATE-----" + "A" * (MAX_VALUE - 60) + "-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\n" + "\n" * (MAX_VALUE - 60),
    payload(b"[" * 12000),
    payload(b'{"a":"' + b'\\"' * 5000 + b'"}'),
    ".".join(["A" * 16000] * 3),
])
def test_the_worst_inputs_are_answered_quickly(value):
    started = time.perf_counter()
    for read in (read_jwt, read_certificate):
        try:
            read(value)
        except CredentialProblem:
            pass
    has_private_key(value)
    assert time.perf_counter() - started < 0.5
