"""A platform's account state report: read strictly, stored in one transaction, and the messages to edit named."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from jobs.scan import scan
from renewbot.runtime.slack_client import make_client
from renewbot.usecases.account_state import (
    MAX_REASON,
    ReportRejected,
    StateReport,
    apply_report,
    notice_edits,
    parse_report,
)
from renewbot.usecases.retire import retire
from renewbot.usecases.status import collect, render_text
from storage.db import session_scope
from storage.models import Account
from tests.conftest import NOW
from tests.support.seed import account, seed, token

# Hypothesis caches under ./.hypothesis otherwise: keep the working tree clean (as tests/test_hostile_input.py does).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "renewbot-hypothesis")


def report(**body) -> StateReport:
    return parse_report(json.dumps(body).encode())


# --- reading the body ---------------------------------------------------------

def test_the_documented_body_and_its_optional_parts_are_read():
    assert report(enabled=False, fetch_orders=True, reason="token expired") == StateReport(False, True,
                                                                                           "token expired")
    assert report(enabled=True) == StateReport(True, None, None)
    assert report(enabled=False, reason=None, fetch_orders=False) == StateReport(False, False, None)
    assert report(enabled=False, reason="  seller suspended  ") == StateReport(False, None, "seller suspended")
    assert report(enabled=False, reason="   ") == StateReport(False, None, None)
    assert report(enabled=False, reason="Zugang gesperrt – Händler ✓").reason == "Zugang gesperrt – Händler ✓"
    assert report(enabled=False, reason="x" * MAX_REASON).reason == "x" * MAX_REASON


@pytest.mark.parametrize("raw, message", [
    (b"", "not JSON"),
    (b"enabled=false", "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b'{"enabled": false', "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b'{"enabled": NaN}', "NaN is not a JSON value"),
    (b'{"enabled": false, "reason": Infinity}', "Infinity is not a JSON value"),
    (b"[]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b'"enabled"', "must be a JSON object"),
    (b"{}", "enabled is required"),
    (b'{"enabled": "false"}', "enabled is required"),
    (b'{"enabled": 0}', "enabled is required"),
    (b'{"enabled": null}', "enabled is required"),
    (b'{"enabled": false, "enabled": true}', "appears twice"),
    (b'{"enabled": false, "fetch_orders": "no"}', "fetch_orders must be"),
    (b'{"enabled": false, "fetch_orders": 1}', "fetch_orders must be"),
    (b'{"enabled": false, "reason": 5}', "reason must be a string"),
    (b'{"enabled": false, "reason": ["a"]}', "reason must be a string"),
    (b'{"enabled": false, "reason": {"a": {"b": {}}}}', "reason must be a string"),
    (json.dumps({"enabled": False, "reason": "x" * (MAX_REASON + 1)}).encode(), "longer than 300"),
    (b'{"enabled": false, "reason": "line one\\nline two"}', "one line of plain text"),
    (b'{"enabled": false, "reason": "\\u001b[31mred"}', "one line of plain text"),
    (b'{"enabled": false, "reason": "evil \\u202egnp.exe"}', "one line of plain text"),
    (b'{"enabled": false, "reason": "half \\ud800 a pair"}', "one line of plain text"),
    (b'{"enabled": false, "reason": "para\\u2029graph"}', "one line of plain text"),
    (b'{"enabled": false, "id": "other-account"}', "unknown field 'id'"),
    (b'{"enabled": false, "Enabled": true}', "unknown field 'Enabled'"),
])
def test_anything_else_is_refused_with_a_reason(raw, message):
    with pytest.raises(ReportRejected, match=message):
        parse_report(raw)


def test_a_refusal_never_echoes_a_long_field_name():
    with pytest.raises(ReportRejected) as refused:
        parse_report(json.dumps({"enabled": False, "k" * 5000: 1}).encode())
    assert len(str(refused.value)) < 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
report_like = st.fixed_dictionaries({}, optional={
    "enabled": json_values | st.booleans(), "fetch_orders": json_values | st.booleans(),
    "reason": json_values | st.text(max_size=400), "extra": json_values})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, report_like))
def test_any_json_is_read_or_refused_and_nothing_else(value):
    raw = json.dumps(value).encode()
    try:
        parsed = parse_report(raw)
    except ReportRejected:
        return
    assert isinstance(value, dict) and set(value) <= {"enabled", "fetch_orders", "reason"}
    assert parsed.enabled is value["enabled"] and type(parsed.enabled) is bool
    assert parsed.reason is None or (0 < len(parsed.reason) <= MAX_REASON and parsed.reason.isprintable())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_and_nothing_else(raw):
    try:
        parse_report(raw)
    except ReportRejected:
        pass


# --- storing it -----------------------------------------------------------------

def apply(engine, account_id, now=NOW, **body):
    with session_scope(engine) as s:
        return apply_report(session=s, account_id=account_id, report=report(**body), now=now)


def stored(engine, account_id) -> Account:
    with session_scope(engine) as s:
        return s.get(Account, account_id)


@pytest.fixture
def world(engine):
    seed(engine, now=NOW, accounts=[account("uk", fetch_orders=False), account("de"), account("fr")],
         tokens=[token("mws", NOW + timedelta(days=10), accounts=["uk", "de"], notify_days=[14, 3]),
                 token("sp", NOW + timedelta(days=100), accounts=["uk"]),
                 token("old", NOW + timedelta(days=100), accounts=["uk"])])
    with session_scope(engine) as s:
        retire(session=s, row_id="old", account=False, undo=False, now=NOW)
    return engine


def test_a_report_is_stored_with_its_reason_and_time_and_names_the_tokens_using_the_account(world):
    applied = apply(world, "uk", enabled=False, reason="token expired")
    assert applied.changed is True
    assert applied.token_ids == ("mws", "sp")  # not the retired one
    assert applied.account.to_json() == {"id": "uk", "name": "Uk", "enabled": False, "fetch_orders": False,
                                         "reason": "token expired", "reported_at": NOW.isoformat()}
    row = stored(world, "uk")
    assert (row.enabled, row.fetch_orders, row.state_reason, row.state_reported_at) == (
        False, False, "token expired", NOW)
    assert stored(world, "de").enabled is True and stored(world, "de").state_reported_at is None


def test_a_repeated_report_writes_nothing_and_edits_nothing(world):
    apply(world, "uk", enabled=False, reason="token expired")
    again = apply(world, "uk", now=NOW + timedelta(hours=1), enabled=False, reason="token expired", fetch_orders=False)
    assert (again.changed, again.token_ids, again.account.reported_at) == (False, (), NOW)
    assert stored(world, "uk").state_reported_at == NOW


def test_fetch_orders_is_kept_unless_reported_and_a_report_without_reason_clears_it(world):
    apply(world, "uk", enabled=False, reason="token expired")
    later = NOW + timedelta(hours=2)
    applied = apply(world, "uk", now=later, enabled=True, fetch_orders=True)
    assert applied.changed and applied.account.to_json() == {
        "id": "uk", "name": "Uk", "enabled": True, "fetch_orders": True, "reason": None,
        "reported_at": later.isoformat()}
    applied = apply(world, "uk", now=later + timedelta(hours=1), enabled=True)
    assert applied.changed is False and stored(world, "uk").fetch_orders is True


def test_an_unknown_or_retired_account_is_not_found_and_nothing_changes(world):
    assert apply(world, "nope", enabled=False) is None
    with session_scope(world) as s:
        retire(session=s, row_id="fr", account=True, undo=False, now=NOW)
    assert apply(world, "fr", enabled=False, reason="gone") is None
    row = stored(world, "fr")
    assert (row.enabled, row.state_reason, row.state_reported_at) == (True, None, None)


def test_status_shows_an_account_switched_off_by_the_platform_with_reason_and_time(world):
    apply(world, "uk", enabled=False, reason="token expired")
    apply(world, "de", enabled=True, reason="checked")  # on: its reason is not news
    with session_scope(world) as s:
        status = collect(session=s, now=NOW)
    accounts = {a["id"]: a for a in status.to_json()["accounts"]}
    assert accounts["uk"] == {"id": "uk", "name": "Uk", "enabled": False, "fetch_orders": False,
                              "settings_url": None, "state_reason": "token expired",
                              "state_reported_at": NOW.isoformat()}
    assert accounts["de"]["state_reason"] == "checked"
    assert list(accounts["fr"]) == ["id", "name", "enabled", "fetch_orders", "settings_url"]  # never reported
    text = render_text(status).splitlines()
    at = text.index(next(line for line in text if line.startswith("uk ")))
    assert text[at].split() == ["uk", "no", "no", "(don't", "fetch)"]
    assert text[at + 1].strip() == "off by the platform since 2026-11-26 12:00 UTC: token expired"
    assert not any("checked" in line for line in text)


# --- which messages to edit ---------------------------------------------------------

def test_the_edits_cover_each_posted_message_once_each_rendered_from_the_newest_notice_in_it(world, slack):
    client = make_client("xoxb-test", slack.url)
    scan(engine=world, client=client, now=NOW)  # mws: 14d notice, a new message
    scan(engine=world, client=client, now=NOW + timedelta(days=8))  # mws: 3d, a reply in its thread
    (root, reply) = [m["ts"] for m in slack.messages["C0ALERTS"]]
    apply(world, "uk", enabled=False, reason="token expired")
    with session_scope(world) as s:
        edits = notice_edits(session=s, token_ids=("mws", "sp"))
    assert sorted((e.token.id, e.channel, e.ts, e.stage) for e in edits) == sorted([
        ("mws", "C0ALERTS", root, "3d"), ("mws", "C0ALERTS", reply, "3d")])
    for e in edits:
        assert [(a.id, a.enabled, a.state_reason) for a in e.accounts] == [("uk", False, "token expired"),
                                                                           ("de", True, None)]


def test_the_notice_shows_a_reason_as_plain_text_only_for_an_account_that_is_off():
    from renewbot.blocks.notice import notice_blocks
    from storage.models import Token

    tok = Token(id="t", kind="amazon-mws", name="T", expires_at=NOW + timedelta(days=5),
                notify_from=NOW, channel="C1")
    accounts = [Account(id="a", name="A", enabled=False, state_reason="<!channel> <https://evil|click> & co"),
                Account(id="b", name="B", enabled=True, state_reason="checked"),
                Account(id="c", name="C", enabled=False, state_reason="x" * 300)]
    (field,) = [f["text"] for f in notice_blocks(tok, accounts, "7d", NOW)[1]["fields"] if "Accounts" in f["text"]]
    assert field == ("*Accounts*\nA (off: &lt;!channel&gt; &lt;https://evil|click&gt; &amp; co), B (on), "
                     f"C (off: {'x' * 99}…)")
